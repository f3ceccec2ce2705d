"""The run report: ``results.json``, PNG plots and ``report.html``."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from torch import Tensor

from contrastor.run.page import PLOTS_NEED_MATPLOTLIB, pca_2d, render_page
from contrastor.train.config import TrainConfig


@dataclass
class RunResult:
    """What :func:`~contrastor.train.loop.train` returns: the final table, the history and
    where files went."""

    folder: Path
    table: dict[str, dict[str, float]]
    history: list[dict[str, Any]]
    step_losses: list[float] = field(default_factory=list)
    noise: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def _plots(result: RunResult, features: Tensor, labels: Tensor) -> list[tuple[str, str]]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folder, history = result.folder, result.history
    epochs = [row["epoch"] for row in history]
    made = []

    def save(fig: Any, name: str, caption: str) -> None:
        fig.tight_layout()
        fig.savefig(folder / name, dpi=110)
        plt.close(fig)
        made.append((name, caption))

    fig, ax = plt.subplots(1, 2, figsize=(10, 3.6))
    ax[0].plot(
        range(1, len(result.step_losses) + 1), result.step_losses, lw=0.6, alpha=0.5, label="step"
    )
    steps = [row["step"] for row in history]
    ax[0].plot(steps, [row["loss"] for row in history], lw=1.8, label="epoch mean")
    ax[0].set(xlabel="step", ylabel="loss", title="training loss")
    ax[0].legend()
    ax[1].plot(epochs, [row["knn_accuracy"] for row in history], marker="o", ms=3)
    ax[1].set(xlabel="epoch", ylabel="accuracy", title="kNN accuracy (held-out)")
    save(fig, "training.png", "Training loss and held-out kNN accuracy")

    fig, ax = plt.subplots(1, 2, figsize=(10, 3.6))
    ax[0].plot(epochs, [row["alignment"] for row in history], marker="o", ms=3, color="tab:green")
    ax[0].set(xlabel="epoch", ylabel="alignment (lower is better)", title="alignment")
    ax[1].plot(epochs, [row["uniformity"] for row in history], marker="o", ms=3, color="tab:purple")
    ax[1].set(xlabel="epoch", ylabel="uniformity (lower is better)", title="uniformity")
    save(
        fig, "geometry.png", "Alignment and uniformity of held-out views over epochs (Wang & Isola)"
    )

    if "positive_similarity_q50" in history[0]:
        fig, ax = plt.subplots(1, 2, figsize=(10, 3.6))
        for kind, colour in (("positive", "tab:blue"), ("negative", "tab:red")):
            low, mid, high = (
                [row[f"{kind}_similarity_q{q}"] for row in history] for q in ("05", "50", "95")
            )
            ax[0].fill_between(epochs, low, high, color=colour, alpha=0.2)
            ax[0].plot(epochs, mid, color=colour, marker="o", ms=3, label=f"{kind} pairs")
        ax[0].set(xlabel="epoch", ylabel="cosine (median, 5-95%)", title="pair similarities")
        ax[0].legend()
        ax[1].plot(
            epochs, [row["view_pair_auc"] for row in history], marker="o", ms=3, label="all pairs"
        )
        ax[1].plot(
            epochs, [row["view_query_auc"] for row in history], marker="o", ms=3, label="per query"
        )
        ax[1].set(xlabel="epoch", ylabel="AUC", title="positive vs negative pairs")
        ax[1].legend()
        save(
            fig,
            "similarities.png",
            "Cosine of held-out view pairs (positives) and of other pairs (negatives) over "
            "epochs, and the AUC separating them (over all pairs, and per query averaged)",
        )

    points = pca_2d(features).numpy()
    fig, ax = plt.subplots(figsize=(6, 5.2))
    scatter = ax.scatter(points[:, 0], points[:, 1], c=labels.numpy(), cmap="tab10", s=6)
    ax.legend(*scatter.legend_elements(), title="class", fontsize=7, loc="best")
    ax.set(title="test embeddings (PCA, trained encoder)", xticks=[], yticks=[])
    save(fig, "embeddings.png", "2-D PCA projection of the test embeddings, coloured by class")
    return made


def write_report(result: RunResult, config: TrainConfig, features: Tensor, labels: Tensor) -> Path:
    """Write ``results.json`` and ``report.html`` (with plots when matplotlib is installed)."""
    folder = result.folder
    (folder / "results.json").write_text(
        json.dumps(
            {
                "config": config.to_dict(),
                "table": result.table,
                "history": result.history,
                **({"noise": result.noise} if result.noise else {}),
                **({"notes": result.notes} if result.notes else {}),
            },
            indent=1,
        )
    )
    try:
        images = _plots(result, features, labels)
        note = ""
    except ModuleNotFoundError:
        images, note = [], PLOTS_NEED_MATPLOTLIB
    title = f"contrastor run: {config.loss} on {config.data or config.dataset}"
    note += "".join(f"<p>{n}</p>" for n in result.notes)
    page = render_page(title, result.table, config.to_dict(), images, note)
    path = folder / "report.html"
    path.write_text(page)
    return path
