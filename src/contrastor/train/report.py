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
#: readable names of the metrics a table may hold (others are shown as their key)
METRIC_NAMES = {
    "knn_accuracy": "kNN accuracy",
    "linear_probe_accuracy": "linear probe accuracy",
}


def table_columns(table: dict[str, dict[str, float]]) -> list[str]:
    """The metric keys of a table, in order of first appearance across its rows."""
    return list(dict.fromkeys(key for row in table.values() for key in row))


def _cell(row: dict[str, float], key: str) -> str:
    return f"{row[key]:.4f}" if key in row else "-"


def format_table(table: dict[str, dict[str, float]], first: str = "features") -> str:
    """A plain-text table of a final evaluation (rows: what was evaluated, columns: metrics)."""
    columns = table_columns(table)
    width = max(len(first), *(len(name) for name in table)) + 2
    widths = [max(12, len(METRIC_NAMES.get(key, key)) + 2) for key in columns]
    header = first.ljust(width) + "".join(
        f"{METRIC_NAMES.get(key, key):>{w}}" for key, w in zip(columns, widths, strict=True)
    )
    lines = [header, "-" * len(header)]
    for name, row in table.items():
        cells = "".join(f"{_cell(row, k):>{w}}" for k, w in zip(columns, widths, strict=True))
        lines.append(name.ljust(width) + cells)
    return "\n".join(lines)


def render_page(
    title: str,
    table: dict[str, dict[str, float]],
    settings: dict[str, Any],
    figures: list[tuple[str, str]],
    note: str = "",
    first: str = "features",
) -> str:
    """The HTML report: the held-out table, the figures (file, caption) and the settings."""
    columns = table_columns(table)
    heads = "".join(f"<th>{html.escape(METRIC_NAMES.get(k, k))}</th>" for k in columns)
    rows = "".join(
        f"<tr><td>{html.escape(name)}</td>"
        + "".join(f"<td>{_cell(row, k)}</td>" for k in columns)
        + "</tr>"
        for name, row in table.items()
    )
    listed = "".join(
        f"<tr><td>{html.escape(k)}</td><td>{html.escape(str(v))}</td></tr>"
        for k, v in settings.items()
    )
    shown = "".join(
        f'<figure><img src="{name}" alt="{html.escape(cap)}">'
        f"<figcaption>{html.escape(cap)}</figcaption></figure>"
        for name, cap in figures
    )
    title = html.escape(title)
    return (
        f'<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><title>{title}</title>'
        f"<style>{STYLE}</style></head>\n<body><h1>{title}</h1>\n<h2>Held-out evaluation</h2>"
        f"<table><tr><th>{html.escape(first)}</th>{heads}</tr>{rows}</table>\n"
        f"{note}{shown}\n<h2>Settings</h2><table>{listed}</table>\n</body></html>\n"
    )


PLOTS_NEED_MATPLOTLIB = (
    "<p>Plots need matplotlib: <code>pip install 'contrastor[report]'</code>.</p>"
)


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
        images, note = [], PLOTS_NEED_MATPLOTLIB
    title = f"contrastor run: {config.loss} on {config.dataset}"
    page = render_page(title, result.table, config.to_dict(), images, note)
    path = folder / "report.html"
    path.write_text(page)
    return path
