"""Whether two classifiers differ on one test set: the exact McNemar test (McNemar,
Psychometrika 1947; exact binomial form, e.g. Dietterich, Neural Computation 1998)."""

from __future__ import annotations

import math

import torch
from torch import Tensor

__all__ = ["mcnemar", "mcnemar_floor"]


def _two_sided(smaller: int, discordant: int) -> float:
    """``min(1, 2 P[Binomial(discordant, 1/2) <= smaller])``."""
    if discordant == 0:
        return 1.0
    tail = sum(math.comb(discordant, i) for i in range(smaller + 1)) / 2.0**discordant
    return min(1.0, 2.0 * tail)


def mcnemar(first_correct: Tensor, second_correct: Tensor) -> float:
    """Exact two-sided McNemar p-value of two classifiers scored on the same items:
    ``b`` items only the first gets right, ``c`` only the second; under no difference the
    ``b + c`` discordant items split as a fair coin, ``p = min(1, 2 P[Bin(b+c, 1/2) <=
    min(b, c)])``. ``*_correct``: one bool per test item, in the same order."""
    a, b = torch.as_tensor(first_correct), torch.as_tensor(second_correct)
    if a.ndim != 1 or a.shape != b.shape or a.numel() == 0:
        raise ValueError("give one correctness flag per test item, same items for both")
    a, b = a.bool(), b.bool()
    only_first, only_second = int((a & ~b).sum()), int((~a & b).sum())
    return _two_sided(min(only_first, only_second), only_first + only_second)


def mcnemar_floor(first: int, second: int) -> float:
    """The smallest exact McNemar p-value two classifiers can have when they get ``first``
    and ``second`` of the same test items right, whatever items those are: every
    discordant item favours the better one, ``p = min(1, 2 / 2^|first - second|)``. When it
    is at least the test level, the counts alone show the difference is not significant."""
    if first < 0 or second < 0:
        raise ValueError("correct counts must be >= 0")
    return _two_sided(0, abs(first - second))
