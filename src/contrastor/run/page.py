"""The report page of a run: its final table as text and as HTML, with its settings and
figures."""

from __future__ import annotations

import html
from typing import Any

import torch
from torch import Tensor

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
    "nn_accuracy": "1-NN accuracy",
    "svm_accuracy": "SVM accuracy",
    "rocket_accuracy": "ROCKET accuracy",
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
