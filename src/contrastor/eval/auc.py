"""Threshold-free detection metrics: AUROC (Mann-Whitney) and average precision."""

from __future__ import annotations

import torch
from torch import Tensor


def _check(scores: Tensor, positive: Tensor) -> tuple[Tensor, Tensor]:
    if scores.ndim != 1 or positive.shape != scores.shape:
        raise ValueError("scores and positive must be 1-D tensors of the same length")
    if not bool(torch.isfinite(scores.double()).all()):
        raise ValueError("scores contain NaN or inf values")
    positive = positive.bool()
    if bool(positive.all()) or not bool(positive.any()):
        raise ValueError("need at least one positive and one negative to rank")
    return scores.detach().double().cpu(), positive.cpu()


def auroc(scores: Tensor, positive: Tensor) -> float:
    """Area under the ROC curve: the chance that a random positive scores above a random
    negative, ties counting one half (the normalised Mann-Whitney U statistic)."""
    s, p = _check(scores, positive)
    order = torch.argsort(s)
    ranks = torch.empty_like(s)
    ranks[order] = torch.arange(1, len(s) + 1, dtype=s.dtype)
    # average the ranks of tied scores
    values, inverse, counts = torch.unique(s, return_inverse=True, return_counts=True)
    sums = torch.zeros_like(values).index_add_(0, inverse, ranks)
    ranks = (sums / counts)[inverse]
    n_pos, n_neg = int(p.sum()), int((~p).sum())
    u = ranks[p].sum() - n_pos * (n_pos + 1) / 2
    return float(u / (n_pos * n_neg))


def average_precision(scores: Tensor, positive: Tensor) -> float:
    """Mean of the precision at the rank of every positive, items ranked by score
    (ties broken towards the lower index)."""
    s, p = _check(scores, positive)
    order = torch.sort(s, descending=True, stable=True).indices
    hits = p[order].double()
    precision = hits.cumsum(0) / torch.arange(1, len(s) + 1, dtype=torch.float64)
    return float((precision * hits).sum() / hits.sum())
