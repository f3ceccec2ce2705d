"""Alignment and uniformity, as losses (Wang & Isola, "Understanding Contrastive
Representation Learning through Alignment and Uniformity on the Hypersphere", ICML 2020)."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from contrastor._validation import check_embeddings, check_positive, check_same_length
from contrastor.engine.output import ContrastiveOutput
from contrastor.engine.precision import full_precision
from contrastor.engine.similarity import compute_dtype, unit_rows
from contrastor.functional._common import check_pair, finish
from contrastor.scale.distributed import LOCAL, Exchange

__all__ = ["align_uniform", "alignment", "uniformity"]


def _embed(x: Tensor, normalize: bool) -> Tensor:
    x = x.to(compute_dtype(x.dtype))
    return unit_rows(x) if normalize else x


def squared_distances(x: Tensor, y: Tensor) -> Tensor:
    """``(n, m)`` squared Euclidean distances, clamped at 0."""
    d = (x * x).sum(1, keepdim=True) + (y * y).sum(1)[None, :] - 2.0 * (x @ y.T)
    return d.clamp_min(0.0)


@full_precision
def alignment(
    x: Tensor,
    y: Tensor,
    *,
    alpha: float = 2.0,
    normalize: bool = True,
    weights: Tensor | None = None,
    reduction: str = "mean",
    return_output: bool = False,
    exchange: Exchange | None = None,
) -> Tensor | ContrastiveOutput:
    """Alignment loss ``E ||f(x) - f(y)||_2^alpha`` over positive pairs ``(x_i, y_i)``.

    DDP (``exchange``): local pairs, averaged over the pairs of all ranks.

    Example:
        >>> loss = alignment(torch.randn(32, 16), torch.randn(32, 16), alpha=2)
    """
    check_pair(x, y)
    check_same_length(x, y, ("x", "y"))
    check_positive(alpha, "alpha")
    a, b = _embed(x, normalize), _embed(y, normalize)
    per_anchor = ((a - b) ** 2).sum(1).clamp_min(0.0) ** (alpha / 2.0)
    output = ContrastiveOutput(
        per_anchor, torch.ones_like(per_anchor, dtype=torch.bool), {"alignment": per_anchor}
    )
    return finish(output, reduction, weights, return_output, exchange or LOCAL)


@full_precision
def uniformity(
    x: Tensor,
    *,
    t: float = 2.0,
    normalize: bool = True,
    reduction: str = "mean",
    return_output: bool = False,
    exchange: Exchange | None = None,
) -> Tensor | ContrastiveOutput:
    """Uniformity loss ``log E_{i != j} exp(-t ||f(x_i) - f(x_j)||^2)``.

    ``mean`` gives the paper's global form over all ordered pairs; ``none`` gives each anchor's
    own ``log mean_{j != i} exp(-t d_ij)`` (its mean differs from the global value by Jensen).
    DDP (``exchange``): local anchors against the gathered batch; the value is the global one
    and its gradient, averaged over ranks, is the global gradient.

    Example:
        >>> loss = uniformity(torch.randn(64, 16), t=2)
    """
    check_embeddings(x, "x")
    check_positive(t, "t")
    n = x.shape[0]
    if n < 2:
        raise ValueError("uniformity needs at least two samples")
    z = _embed(x, normalize)
    ex = exchange or LOCAL
    everyone = ex.gather(z)
    total = everyone.shape[0]
    own = torch.arange(n, device=z.device) + ex.offset(n)
    off = own[:, None] != torch.arange(total, device=z.device)[None, :]
    logits = (-t * squared_distances(z, everyone)).masked_fill(~off, float("-inf"))
    per_anchor = torch.logsumexp(logits, dim=1) - math.log(total - 1)
    output = ContrastiveOutput(
        per_anchor, torch.ones(n, dtype=torch.bool, device=z.device), {"uniformity": per_anchor}
    )
    if reduction != "mean":
        return finish(output, reduction, None, return_output, ex)
    local = torch.logsumexp(logits.reshape(-1), 0)
    if ex.world_size == 1:
        output.loss = local - math.log(total * (total - 1))
    else:
        # log of the global sum, with a gradient that DDP's averaging turns into the global one
        shift = ex.total(local.detach()) / ex.world_size
        part = torch.exp(local - shift)
        whole = ex.total(part.detach())
        value = torch.log(whole) + shift - math.log(total * (total - 1))
        output.loss = value + ex.world_size * (part - part.detach()) / whole
    return output if return_output else output.loss


def align_uniform(
    x: Tensor,
    y: Tensor,
    *,
    alpha: float = 2.0,
    t: float = 2.0,
    weight: float = 1.0,
    normalize: bool = True,
    exchange: Exchange | None = None,
) -> Tensor:
    """Wang & Isola's combined objective ``align(x, y) + weight * (unif(x) + unif(y)) / 2``
    (:func:`alignment` with ``alpha``, :func:`uniformity` with ``t``). DDP as theirs.

    Example:
        >>> loss = align_uniform(torch.randn(32, 16), torch.randn(32, 16))
    """
    run = {"normalize": normalize, "exchange": exchange}
    spread = 0.5 * (uniformity(x, t=t, **run) + uniformity(y, t=t, **run))
    return alignment(x, y, alpha=alpha, **run) + weight * spread
