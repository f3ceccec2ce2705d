"""Offline UCR/UEA time-series classification sets read through sktime (``[timeseries]``
extra): series padded to a common length with their true lengths kept, so unequal-length
sets (JapaneseVowels) work, and labels mapped to ``0..C-1``."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

#: name -> sktime loader function
UCR = {
    "gunpoint": "load_gunpoint",
    "arrowhead": "load_arrow_head",
    "italy_power_demand": "load_italy_power_demand",
    "basic_motions": "load_basic_motions",
    "japanese_vowels": "load_japanese_vowels",
}


@dataclass
class SeriesSplit:
    """``x`` ``(N, C, T)`` zero-padded after each series' ``lengths`` ``(N,)``; ``y`` ``(N,)``."""

    x: Tensor
    lengths: Tensor
    y: Tensor


@dataclass
class SeriesDataset:
    name: str
    train: SeriesSplit
    test: SeriesSplit

    @property
    def channels(self) -> int:
        return int(self.train.x.shape[1])


def _arrays(frame_or_array: object) -> list[np.ndarray]:
    """Series as ``(C, T_i)`` float arrays, from a numpy3D array or a nested data frame."""
    if isinstance(frame_or_array, np.ndarray):
        return [np.asarray(s, dtype=np.float32) for s in frame_or_array]
    frame = frame_or_array
    return [
        np.stack([np.asarray(frame.iloc[i, c], dtype=np.float32) for c in range(frame.shape[1])])
        for i in range(len(frame))
    ]


def _split(series: list[np.ndarray], labels: np.ndarray, classes: list) -> SeriesSplit:
    length = max(s.shape[1] for s in series)
    x = np.zeros((len(series), series[0].shape[0], length), dtype=np.float32)
    for i, s in enumerate(series):
        x[i, :, : s.shape[1]] = s
    lookup = {c: k for k, c in enumerate(classes)}
    y = np.array([lookup[v] for v in labels], dtype=np.int64)
    lengths = np.array([s.shape[1] for s in series], dtype=np.int64)
    return SeriesSplit(torch.from_numpy(x), torch.from_numpy(lengths), torch.from_numpy(y))


def load_series(name: str) -> SeriesDataset:
    """The official train/test split of a UCR/UEA set (see :data:`UCR`)."""
    if name not in UCR:
        raise ValueError(f"unknown time-series set {name!r}; choose one of {list(UCR)}")
    try:
        from sktime import datasets
    except ModuleNotFoundError as error:
        raise ModuleNotFoundError(
            "time-series data needs sktime: pip install 'contrastor[timeseries]'"
        ) from error
    loader = getattr(datasets, UCR[name])
    parts = {}
    for split in ("train", "test"):
        try:
            x, y = loader(split=split, return_X_y=True, return_type="numpy3D")
        except (ValueError, TypeError):  # unequal lengths: nested data frame
            x, y = loader(split=split, return_X_y=True)
        parts[split] = (_arrays(x), np.asarray(y))
    classes = sorted(set(parts["train"][1]) | set(parts["test"][1]))
    splits = {k: _split(series, labels, classes) for k, (series, labels) in parts.items()}
    train, test = splits["train"], splits["test"]
    length = max(train.x.shape[2], test.x.shape[2])
    train.x, test.x = (
        torch.nn.functional.pad(s.x, (0, length - s.x.shape[2])) for s in (train, test)
    )
    return SeriesDataset(name, train, test)
