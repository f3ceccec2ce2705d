"""User-item interactions that ship offline: MovieLens-100k as carried by the recbole package
(read from the installed package; install it with ``pip install --no-deps recbole``; its
licence does not allow copying the data elsewhere)."""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor


@dataclass
class Interactions:
    """Implicit feedback: ``train`` and ``test`` are ``(E, 2)`` (user, item) index pairs."""

    users: int
    items: int
    train: Tensor
    test: Tensor


def movielens_100k_path() -> Path:
    spec = importlib.util.find_spec("recbole")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(
            "MovieLens-100k is read from the recbole package: pip install --no-deps recbole"
        )
    folder = Path(next(iter(spec.submodule_search_locations)))
    return folder / "dataset_example" / "ml-100k" / "ml-100k.inter"


def load_movielens_100k(test_fraction: float = 0.2, seed: int = 0) -> Interactions:
    """All 100,000 ratings as implicit interactions (943 users, 1,682 items), split per user:
    a seeded ``test_fraction`` of each user's items is held out."""
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction}")
    table = np.loadtxt(movielens_100k_path(), delimiter="\t", skiprows=1, usecols=(0, 1))
    users, user_index = np.unique(table[:, 0].astype(np.int64), return_inverse=True)
    items, item_index = np.unique(table[:, 1].astype(np.int64), return_inverse=True)
    rng = np.random.default_rng(seed)
    order = np.argsort(user_index, kind="stable")
    starts = np.flatnonzero(np.r_[True, np.diff(user_index[order]) != 0])
    test = np.zeros(len(table), dtype=bool)
    for block in np.split(order, starts[1:]):
        held = max(1, round(len(block) * test_fraction))
        test[rng.choice(block, held, replace=False)] = True
    pairs = torch.from_numpy(np.stack([user_index, item_index], 1).astype(np.int64))
    mask = torch.from_numpy(test)
    return Interactions(len(users), len(items), pairs[~mask], pairs[mask])
