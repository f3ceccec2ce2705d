"""Time series: the offline UCR/UEA classification sets read through sktime
(``[timeseries]`` extra), or your own arrays or table. Series are padded to a common length
with their true lengths kept, so unequal-length sets (JapaneseVowels) work, and labels are
mapped to ``0..C-1``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from contrastor.data.datasets import held_out_split
from contrastor.data.files import Problems, class_indices, column, existing, read_rows
from contrastor.data.tabular import LABEL_COLUMNS

#: name -> sktime loader function
UCR = {
    "gunpoint": "load_gunpoint",
    "arrowhead": "load_arrow_head",
    "italy_power_demand": "load_italy_power_demand",
    "basic_motions": "load_basic_motions",
    "japanese_vowels": "load_japanese_vowels",
}
#: the number of series in each set's official test split (what an accuracy counts)
TEST_SIZES = {
    "gunpoint": 150,
    "arrowhead": 175,
    "italy_power_demand": 1029,
    "basic_motions": 40,
    "japanese_vowels": 370,
}


@dataclass
class SeriesSplit:
    """``x`` ``(N, C, T)`` zero-padded after each series' ``lengths`` ``(N,)``; ``y`` ``(N,)``
    (``None`` without labels)."""

    x: Tensor
    lengths: Tensor
    y: Tensor | None


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


def _padded(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(N, C, T)`` series with NaN after each one's end: zero-padded series and lengths."""
    finite = np.isfinite(x).all(1)  # (N, T)
    lengths = np.where(finite.any(1), x.shape[2] - np.argmax(finite[:, ::-1], 1), 0)
    inside = np.arange(x.shape[2])[None] < lengths[:, None]
    if (lengths == 0).any():
        raise ValueError(f"series {int(np.flatnonzero(lengths == 0)[0])}: no value")
    if (inside & ~finite).any():
        row = int(np.flatnonzero((inside & ~finite).any(1))[0])
        raise ValueError(f"series {row}: a missing or non-finite value before its end")
    return np.nan_to_num(x, nan=0.0, posinf=0.0, neginf=0.0), lengths


def _array_series(path: Path) -> tuple[np.ndarray, np.ndarray | None]:
    if path.suffix.lower() == ".npz":
        with np.load(path, allow_pickle=False) as arrays:
            if "x" not in arrays:
                raise ValueError(f"{path}: expected an array 'x' of series (and optional 'y')")
            x, y = arrays["x"], arrays.get("y")
    else:
        x, y = np.load(path, allow_pickle=False), None
    if x.ndim == 2:
        x = x[:, None]
    if x.ndim != 3 or not np.issubdtype(x.dtype, np.number):
        raise ValueError(f"{path}: expected numbers shaped (N, T) or (N, C, T), got {x.shape}")
    if y is not None and len(y) != len(x):
        raise ValueError(f"{path}: {len(y)} labels 'y' for {len(x)} series 'x'")
    return x.astype(np.float32), y


def _table_series(path: Path, problems: Problems) -> tuple[np.ndarray, np.ndarray | None]:
    """One series per row: the numeric columns in order (empty trailing cells end a shorter
    series), and an optional label column."""
    columns, rows = read_rows(path, problems)
    label = column(columns, LABEL_COLUMNS)
    steps = [c for c in columns if c != label]
    series, labels = [], []
    for row in rows:
        cells = [str(row.values.get(c) or "").strip() for c in steps]
        while cells and not cells[-1]:
            cells.pop()
        try:
            values = [float(c) for c in cells]
        except ValueError:
            bad = next(c for c in cells if not _is_number(c))
            problems.bad(row.line, f"expected numbers (a series), got {bad!r}")
            continue
        target = str(row.values.get(label) or "").strip() if label else ""
        if not values or (label and not target):
            problems.bad(
                row.line, "expected a series of numbers" + (" and a label" if label else "")
            )
            continue
        series.append(values)
        labels.append(target)
    x = np.full((len(series), 1, max((len(v) for v in series), default=0)), np.nan, np.float32)
    for i, values in enumerate(series):
        x[i, 0, : len(values)] = values
    return x, np.asarray(labels) if label else None


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def read_series(
    path: str | Path, test_fraction: float = 0.3, seed: int = 0, *, skip_bad_rows: bool = False
) -> tuple[SeriesDataset, Problems]:
    """Series from ``.npy`` (``(N, T)`` or ``(N, C, T)``, unlabelled), ``.npz`` (``x`` and
    optional labels ``y``) or a CSV/JSON-lines table (one series per row, optional label
    column); NaN or empty cells after a series' end make it shorter. Split class-stratified
    (random without labels)."""
    path = existing(path, "series file")
    problems = Problems(path, skip_bad_rows)
    if path.suffix.lower() in (".npy", ".npz"):
        x, y = _array_series(path)
    else:
        x, y = _table_series(path, problems)
    if len(x) < 4:
        raise ValueError(f"{path}: need at least 4 series, found {len(x)}")
    try:
        x, lengths = _padded(x)
    except ValueError as error:
        raise ValueError(f"{path}: {error}") from error
    labels = None if y is None else np.asarray(class_indices([str(v) for v in y])[0])
    train, test = held_out_split(len(x), labels, test_fraction, seed)

    def part(index: np.ndarray) -> SeriesSplit:
        return SeriesSplit(
            torch.from_numpy(x[index]),
            torch.from_numpy(lengths[index].astype(np.int64)),
            None if labels is None else torch.from_numpy(labels[index].astype(np.int64)),
        )

    return SeriesDataset(path.stem, part(train), part(test)), problems
