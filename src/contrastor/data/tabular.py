"""Tabular data: the offline scikit-learn tables (wine, breast cancer, iris) or your own
CSV/JSON-lines file of numeric columns and an optional ``label``, with a stratified (or,
unlabelled, random) held-out split."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from contrastor.data.datasets import held_out_split
from contrastor.data.files import Problems, class_indices, column, number_cell, read_rows

TABLES = ("wine", "breast_cancer", "iris")
#: names a label column of a user's table may have
LABEL_COLUMNS = ("label", "class", "target", "y")


@dataclass
class TabularDataset:
    """Raw feature rows ``(N, d)`` (float32) and labels ``(N,)`` (``None`` when the file has
    none), split into train and test."""

    name: str
    train_x: Tensor
    train_y: Tensor | None
    test_x: Tensor
    test_y: Tensor | None

    def standardise(self, x: Tensor) -> Tensor:
        """``x`` scaled by the training split's mean and standard deviation."""
        mean, std = self.train_x.mean(0), self.train_x.std(0).clamp_min(1e-8)
        return (x - mean) / std


def load_tabular(name: str, test_fraction: float = 0.3, seed: int = 0) -> TabularDataset:
    """``wine`` (178 x 13, 3 classes), ``breast_cancer`` (569 x 30, 2) or ``iris``
    (150 x 4, 3), as shipped with scikit-learn."""
    if name not in TABLES:
        raise ValueError(f"unknown table {name!r}; choose one of {list(TABLES)}")
    try:
        from sklearn import datasets
    except ModuleNotFoundError as error:
        raise ModuleNotFoundError(
            "tabular data needs scikit-learn: pip install 'contrastor[data]'"
        ) from error
    x, y = getattr(datasets, f"load_{name}")(return_X_y=True)
    return split_rows(name, x, y, test_fraction, seed)


def split_rows(
    name: str, x: np.ndarray, y: np.ndarray | None, test_fraction: float, seed: int
) -> TabularDataset:
    """``x`` and ``y`` split class-stratified (random without labels)."""
    train, test = held_out_split(len(x), y, test_fraction, seed)
    features = torch.from_numpy(np.asarray(x, dtype=np.float32))
    if y is None:
        return TabularDataset(name, features[train], None, features[test], None)
    labels = torch.from_numpy(np.asarray(y, dtype=np.int64))
    return TabularDataset(name, features[train], labels[train], features[test], labels[test])


def read_tabular(
    path: str, test_fraction: float = 0.3, seed: int = 0, *, skip_bad_rows: bool = False
) -> tuple[TabularDataset, Problems]:
    """A CSV/JSON-lines table: every column a number except an optional ``label`` (also
    ``class``, ``target``, ``y``; any values, mapped to classes in sorted order)."""
    problems = Problems(Path(path), skip_bad_rows)
    columns, rows = read_rows(path, problems)
    label = column(columns, LABEL_COLUMNS)
    features = [c for c in columns if c != label]
    if not features:
        raise ValueError(f"{path}:1: expected numeric feature columns, got {columns}")
    x, y = [], []
    for row in rows:
        values = [number_cell(row, name, problems) for name in features]
        target = "" if label is None else str(row.values.get(label) or "").strip()
        if any(v is None for v in values):
            continue
        if label is not None and not target:
            problems.bad(row.line, f"expected a value in the label column {label!r}")
            continue
        x.append(values)
        y.append(target)
    if len(x) < 4:
        raise ValueError(f"{path}: need at least 4 rows, found {len(x)} readable")
    labels = np.asarray(class_indices(y)[0]) if label is not None else None
    return split_rows(Path(path).stem, np.asarray(x), labels, test_fraction, seed), problems
