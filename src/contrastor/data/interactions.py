"""User-item interactions: MovieLens-100k as carried by the recbole package (read from the
installed package; install it with ``pip install --no-deps recbole``; its licence does not
allow copying the data elsewhere), or your own table of ``user``, ``item`` and optional
``rating`` and ``timestamp``."""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from contrastor.data.files import Problems, column, number_cell, read_rows, text_cell


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
    table = np.loadtxt(movielens_100k_path(), delimiter="\t", skiprows=1, usecols=(0, 1))
    return split_per_user(
        table[:, 0].astype(np.int64), table[:, 1].astype(np.int64), test_fraction, seed
    )


def split_per_user(
    users: np.ndarray,
    items: np.ndarray,
    test_fraction: float,
    seed: int,
    times: np.ndarray | None = None,
) -> Interactions:
    """Ids mapped to ``0..U-1`` and ``0..I-1``, and a ``test_fraction`` of each user's
    interactions held out (at least one): the latest ones with ``times``, else a seeded
    random choice. Repeated (user, item) pairs count once."""
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction}")
    user_ids, user_index = np.unique(users, return_inverse=True)
    item_ids, item_index = np.unique(items, return_inverse=True)
    stacked = np.stack([user_index, item_index], 1)
    first = np.sort(np.unique(stacked, axis=0, return_index=True)[1])  # file order kept
    pairs = stacked[first]
    rng = np.random.default_rng(seed)
    test = np.zeros(len(pairs), dtype=bool)
    if times is not None:
        order = np.lexsort((np.asarray(times)[first], pairs[:, 0]))
    else:
        order = np.argsort(pairs[:, 0], kind="stable")
    for block in _user_blocks(pairs[:, 0], order):
        held = max(1, round(len(block) * test_fraction))
        if times is not None:
            test[block[len(block) - held :]] = True
        else:
            test[rng.choice(block, held, replace=False)] = True
    pairs_t = torch.from_numpy(pairs.astype(np.int64))
    mask = torch.from_numpy(test)
    return Interactions(len(user_ids), len(item_ids), pairs_t[~mask], pairs_t[mask])


def hold_out(data: Interactions, fraction: float, seed: int) -> Interactions:
    """A validation split carved from ``data.train``: a seeded ``fraction`` of each user's
    training interactions (at least one, none of a user's only one) becomes ``test``; user
    and item ids are kept, and ``data.test`` is left out entirely."""
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"validation fraction must be in (0, 1), got {fraction}")
    users = data.train[:, 0].numpy()
    rng = np.random.default_rng(seed)
    held = np.zeros(len(users), dtype=bool)
    for block in _user_blocks(users, np.argsort(users, kind="stable")):
        if len(block) > 1:
            held[rng.choice(block, max(1, round(len(block) * fraction)), replace=False)] = True
    mask = torch.from_numpy(held)
    return Interactions(data.users, data.items, data.train[~mask], data.train[mask])


def _user_blocks(users: np.ndarray, order: np.ndarray) -> list[np.ndarray]:
    """The positions of ``order`` (sorted by user) cut into one block per user."""
    starts = np.flatnonzero(np.r_[True, np.diff(users[order]) != 0])
    return np.split(order, starts[1:])


def read_interactions(
    path: str | Path,
    test_fraction: float = 0.2,
    seed: int = 0,
    *,
    min_rating: float | None = None,
    skip_bad_rows: bool = False,
) -> tuple[Interactions, Problems]:
    """A CSV/TSV/JSON-lines table of ``user`` and ``item`` ids (any text), with an optional
    ``rating`` (rows below ``min_rating`` are not interactions) and ``timestamp`` (numbers:
    each user's latest interactions are held out)."""
    problems = Problems(Path(path), skip_bad_rows)
    columns, rows = read_rows(path, problems)
    user, item = column(columns, ("user", "user_id")), column(columns, ("item", "item_id"))
    rating, time = column(columns, ("rating",)), column(columns, ("timestamp", "time"))
    if user is None or item is None:
        raise ValueError(f"{path}:1: expected columns 'user' and 'item', got {columns}")
    if min_rating is not None and rating is None:
        raise ValueError(f"{path}:1: min_rating needs a 'rating' column, got {columns}")
    users, items, times = [], [], []
    for row in rows:
        u, i = text_cell(row, user), text_cell(row, item)
        if not u or not i:
            problems.bad(row.line, "expected a user and an item id")
            continue
        if rating is not None and min_rating is not None:
            value = number_cell(row, rating, problems)
            if value is None or value < min_rating:
                continue
        if time is not None:
            stamp = number_cell(row, time, problems)
            if stamp is None:
                continue
            times.append(stamp)
        users.append(u)
        items.append(i)
    if len(set(users)) < 2 or len(set(items)) < 2:
        raise ValueError(f"{path}: need interactions of at least 2 users and 2 items")
    data = split_per_user(
        np.asarray(users),
        np.asarray(items),
        test_fraction,
        seed,
        np.asarray(times) if time else None,
    )
    return data, problems
