"""SCARF views of tabular rows: random feature corruption from the empirical marginals."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor


@dataclass
class MarginalCorruption:
    """For every row, ``round(rate * d)`` of its features chosen at random are replaced by
    the same feature's value in a random row of ``table`` (a draw from that feature's
    empirical marginal), so a view stays on the data's own value range. Bahri et al.,
    "SCARF: Self-Supervised Contrastive Learning using Random Feature Corruption", ICLR 2022.

    Example:
        >>> corrupt = MarginalCorruption(train_x, rate=0.6)
        >>> view = corrupt(train_x[idx], generator)
    """

    table: Tensor
    rate: float = 0.6

    def __post_init__(self) -> None:
        if self.table.ndim != 2 or len(self.table) == 0:
            raise ValueError(
                f"table must be a non-empty (n, d) matrix, got {tuple(self.table.shape)}"
            )
        if not 0.0 <= self.rate <= 1.0:
            raise ValueError(f"rate must be in [0, 1], got {self.rate}")

    def __call__(self, rows: Tensor, generator: torch.Generator) -> Tensor:
        if rows.ndim != 2 or rows.shape[1] != self.table.shape[1]:
            raise ValueError(f"rows must be (n, {self.table.shape[1]}), got {tuple(rows.shape)}")
        n, d = rows.shape
        count = round(self.rate * d)
        rank = torch.rand(n, d, generator=generator).argsort(1).argsort(1)
        chosen = rank < count
        donors = torch.randint(len(self.table), (n, d), generator=generator)
        drawn = self.table[donors, torch.arange(d)]
        return torch.where(chosen.to(rows.device), drawn.to(rows), rows)
