"""Agreement of embedding similarities with graded human judgements (STS-style)."""

from __future__ import annotations

import torch
from torch import Tensor

from contrastor._validation import check_embeddings, check_same_dim
from contrastor.engine.similarity import prepare
from contrastor.eval.auc import average_ranks


def _pearson(x: Tensor, y: Tensor) -> float:
    x, y = x - x.mean(), y - y.mean()
    denominator = (x.square().sum() * y.square().sum()).sqrt()
    return float((x * y).sum() / denominator) if denominator > 0 else float("nan")


@torch.no_grad()
def sts_correlation(
    first: Tensor, second: Tensor, gold: Tensor, *, similarity: str = "cosine"
) -> dict[str, float]:
    """Spearman and Pearson correlation between the similarity of paired embeddings and gold
    scores (semantic textual similarity: the metric of SimCSE, DebCSE, WhitenedCSE):
    ``spearman`` ranks ties by their mean rank; NaN when either side is constant.

    Args:
        first, second: ``(n, d)``, pair i is ``(first[i], second[i])``; gold: ``(n,)``.
    """
    check_embeddings(first, "first")
    check_embeddings(second, "second")
    check_same_dim(first, second, ("first", "second"))
    n = first.shape[0]
    if second.shape[0] != n or gold.shape != (n,) or n < 2:
        raise ValueError(f"need n >= 2 pairs and ({n},) gold scores, got {tuple(gold.shape)}")
    if not bool(torch.isfinite(gold).all()):
        raise ValueError("gold scores contain NaN or inf values")
    a, b = prepare(first.double(), similarity), prepare(second.double(), similarity)
    scores = torch.linalg.vecdot(a, b).cpu()
    truth = gold.detach().double().cpu()
    return {
        "spearman": _pearson(average_ranks(scores), average_ranks(truth)),
        "pearson": _pearson(scores, truth),
        "pairs": n,
    }
