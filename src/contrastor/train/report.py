"""The run report: ``results.json``, PNG plots and ``report.html``."""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor

from contrastor.train.config import TrainConfig

if TYPE_CHECKING:
    from contrastor.train.loop import RunResult

STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:980px;margin:2em auto;color:#222}"
    "table{border-collapse:collapse;margin:1em 0}"
    "td,th{border:1px solid #ccc;padding:4px 10px;text-align:right}"
    "td:first-child{text-align:left}figure{margin:1.5em 0}img{max-width:100%}"
)
COLUMNS = (("knn_accuracy", "kNN accuracy"), ("linear_probe_accuracy", "linear probe accuracy"))


def format_table(table: dict[str, dict[str, float]]) -> str:
    """A plain-text table of the final evaluation (rows: features, columns: metrics)."""
    width = max(len(name) for name in table) + 2
    header = "features".ljust(width) + "".join(f"{title:>24}" for _, title in COLUMNS)
    lines = [header, "-" * len(header)]
    for name, row in table.items():
        lines.append(name.ljust(width) + "".join(f"{row[key]:>24.4f}" for key, _ in COLUMNS))
    return "\n".join(lines)


def pca_2d(x: Tensor) -> Tensor:
    """Projection of ``x`` on its first two principal components."""
    centred = x.double() - x.double().mean(0)
    _, _, v = torch.linalg.svd(centred, full_matrices=False)
    return centred @ v[:2].T


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
            },
            indent=1,
        )
    )
    try:
        images = _plots(result, features, labels)
        note = ""
    except ModuleNotFoundError:
        images = []
        note = "<p>Plots need matplotlib: <code>pip install 'contrastor[report]'</code>.</p>"
    rows = "".join(
        f"<tr><td>{html.escape(name)}</td>"
        + "".join(f"<td>{row[k]:.4f}</td>" for k, _ in COLUMNS)
        + "</tr>"
        for name, row in result.table.items()
    )
    settings = "".join(
        f"<tr><td>{html.escape(k)}</td><td>{html.escape(str(v))}</td></tr>"
        for k, v in config.to_dict().items()
    )
    figures = "".join(
        f'<figure><img src="{name}" alt="{html.escape(cap)}">'
        f"<figcaption>{html.escape(cap)}</figcaption></figure>"
        for name, cap in images
    )
    heads = "".join(f"<th>{title}</th>" for _, title in COLUMNS)
    title = html.escape(f"contrastor run: {config.loss} on {config.dataset}")
    page = (
        f'<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><title>{title}</title>'
        f"<style>{STYLE}</style></head>\n<body><h1>{title}</h1>\n"
        f"<h2>Held-out evaluation</h2><table><tr><th>features</th>{heads}</tr>{rows}</table>\n"
        f"{note}{figures}\n<h2>Settings</h2><table>{settings}</table>\n</body></html>\n"
    )
    path = folder / "report.html"
    path.write_text(page)
    return path
