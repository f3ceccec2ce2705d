"""Offline tabular datasets from scikit-learn (wine, breast cancer, iris): features and
labels with a stratified held-out split."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from contrastor.data.datasets import stratified_split

TABLES = ("wine", "breast_cancer", "iris")


@dataclass
class TabularDataset:
    """Raw feature rows ``(N, d)`` (float32) and labels ``(N,)``, split into train and test."""

    name: str
    train_x: Tensor
    train_y: Tensor
    test_x: Tensor
    test_y: Tensor

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
    train, test = stratified_split(y, test_fraction, seed)
    features = torch.from_numpy(np.asarray(x, dtype=np.float32))
    labels = torch.from_numpy(np.asarray(y, dtype=np.int64))
    return TabularDataset(name, features[train], labels[train], features[test], labels[test])
