"""The spectral contrastive loss: contrastive learning as a low-rank factorisation of the
augmentation graph, with no softmax."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from contrastor._validation import check_positive, check_same_length
from contrastor.engine.output import ContrastiveOutput
from contrastor.engine.precision import full_precision
from contrastor.engine.similarity import compute_dtype
from contrastor.functional._common import check_pair, finish
from contrastor.scale.distributed import LOCAL, Exchange

__all__ = ["spectral_contrastive"]


def _capped(x: Tensor, mu: float) -> Tensor:
    """Rows longer than ``sqrt(mu)`` scaled down to that length; shorter rows as they are."""
    norm = x.norm(dim=1, keepdim=True)
    cap = math.sqrt(mu)
    return torch.where(norm < cap, x, x / norm.clamp_min(1e-12) * cap)


@full_precision
def spectral_contrastive(
    a: Tensor,
    b: Tensor,
    *,
    mu: float = 1.0,
    weights: Tensor | None = None,
    reduction: str = "mean",
    return_output: bool = False,
    exchange: Exchange | None = None,
) -> Tensor | ContrastiveOutput:
    """Spectral contrastive loss of two views' features ``f(x) = a_i``, ``f(x+) = b_i``:

        L_i = ( -2 a_i . b_i + 1/(N - 1) sum_{j != i} (a_i . b_j)^2 ) / mu

    the batch estimate of ``-2 E[f(x)^T f(x+)] + E[(f(x)^T f(x-))^2]``, whose minimiser is
    the top eigenspace of the augmentation graph. As in the authors' code, rows longer than
    ``sqrt(mu)`` are scaled to that length first. The squared term is computed from the
    ``d x d`` matrix ``B^T B``, so memory does not grow with ``N^2``. HaoChen et al.,
    "Provable Guarantees for Self-Supervised Deep Learning with Spectral Contrastive Loss",
    NeurIPS 2021. DDP: the negatives ``b_j`` come from every rank (``N`` in total).

    Example:
        >>> loss = spectral_contrastive(z1, z2, mu=1.0)
    """
    check_pair(a, b)
    check_same_length(a, b, ("a", "b"))
    check_positive(mu, "mu")
    ex = exchange or LOCAL
    a, b = (_capped(x.to(compute_dtype(x.dtype)), mu) for x in (a, b))
    everyone = ex.gather(b)
    total = everyone.shape[0]
    if total < 2:
        raise ValueError("the spectral loss needs at least two samples (one negative each)")
    positive = torch.linalg.vecdot(a, b)
    # sum_j (a_i . b_j)^2 = a_i^T (B^T B) a_i
    squares = torch.linalg.vecdot(a @ (everyone.T @ everyone), a) - positive.square()
    per_anchor = (-2.0 * positive + squares / (total - 1)) / mu
    terms = {"positive": -2.0 * positive / mu, "negative": squares / (total - 1) / mu}
    output = ContrastiveOutput(per_anchor, torch.ones_like(per_anchor, dtype=torch.bool), terms)
    return finish(output, reduction, weights, return_output, ex)
