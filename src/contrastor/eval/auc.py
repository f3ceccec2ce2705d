"""Threshold-free detection metrics: AUROC (Mann-Whitney), its ROC curve, per-query AUC of a
retriever's scores, and average precision."""

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


def average_ranks(values: Tensor) -> Tensor:
    """1-based ranks of a 1-D tensor's values, tied values sharing their mean rank."""
    order = torch.argsort(values)
    ranks = torch.empty_like(values, dtype=torch.float64)
    ranks[order] = torch.arange(1, len(values) + 1, dtype=torch.float64, device=values.device)
    _, inverse, counts = torch.unique(values, return_inverse=True, return_counts=True)
    sums = torch.zeros(len(counts), dtype=torch.float64, device=values.device)
    return (sums.index_add_(0, inverse, ranks) / counts)[inverse]


def auroc(scores: Tensor, positive: Tensor) -> float:
    """Area under the ROC curve: the chance that a random positive scores above a random
    negative, ties counting one half (the normalised Mann-Whitney U statistic)."""
    s, p = _check(scores, positive)
    ranks = average_ranks(s)
    n_pos, n_neg = int(p.sum()), int((~p).sum())
    u = ranks[p].sum() - n_pos * (n_pos + 1) / 2
    return float(u / (n_pos * n_neg))


def roc_curve(scores: Tensor, positive: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """``(false positive rate, true positive rate, thresholds)`` of the rule "score >=
    threshold", one point per distinct score from the highest down, starting at (0, 0);
    the trapezoid area under it is :func:`auroc`."""
    s, p = _check(scores, positive)
    order = torch.argsort(s, descending=True)
    s, hits = s[order], p[order].double()
    last = torch.ones_like(s, dtype=torch.bool)
    last[:-1] = s[1:] != s[:-1]  # the last item of each run of tied scores
    tp, fp = hits.cumsum(0)[last], (1.0 - hits).cumsum(0)[last]
    zero = torch.zeros(1, dtype=torch.float64)
    tpr = torch.cat([zero, tp / tp[-1]])
    fpr = torch.cat([zero, fp / fp[-1]])
    thresholds = torch.cat([torch.full((1,), torch.inf, dtype=torch.float64), s[last]])
    return fpr, tpr, thresholds


def per_query_auc(scores: Tensor, relevant: Tensor) -> Tensor:
    """AUC of each query's scores over its candidates, ``(n, m)`` scores and bool relevance:
    the share of (relevant, irrelevant) candidate pairs the query orders correctly, ties one
    half; NaN for a query without both kinds. ROC/AUC as threshold-free diagnostics of a
    retriever: "Optimizing What Matters: AUC-Driven Learning for Robust Neural Retrieval".
    Average the defined queries with ``torch.nanmean``."""
    if scores.ndim != 2 or relevant.shape != scores.shape:
        raise ValueError("scores and relevant must be (queries, candidates) of one shape")
    if not bool(torch.isfinite(scores).all()):
        raise ValueError("scores contain NaN or inf values")
    s, r = scores.detach().double().cpu(), relevant.bool().cpu()
    ordered = s.sort(1).values
    below = torch.searchsorted(ordered, s, right=False)
    up_to = torch.searchsorted(ordered, s, right=True)
    ranks = below + (up_to - below + 1) / 2  # 1-based, ties share their mean rank
    positives = r.sum(1).double()
    negatives = r.shape[1] - positives
    u = (ranks * r).sum(1) - positives * (positives + 1) / 2  # Mann-Whitney, row by row
    return torch.where((positives > 0) & (negatives > 0), u / (positives * negatives), torch.nan)


def average_precision(scores: Tensor, positive: Tensor) -> float:
    """Mean of the precision at the rank of every positive, items ranked by score
    (ties broken towards the lower index)."""
    s, p = _check(scores, positive)
    order = torch.sort(s, descending=True, stable=True).indices
    hits = p[order].double()
    precision = hits.cumsum(0) / torch.arange(1, len(s) + 1, dtype=torch.float64)
    return float((precision * hits).sum() / hits.sum())
