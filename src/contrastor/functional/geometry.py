"""Alignment and uniformity, as losses (Wang & Isola, "Understanding Contrastive
Representation Learning through Alignment and Uniformity on the Hypersphere", ICML 2020)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from contrastor._validation import check_embeddings, check_positive, check_same_length
from contrastor.engine.output import ContrastiveOutput
from contrastor.engine.similarity import compute_dtype
from contrastor.functional._common import check_pair, finish


def _embed(x: Tensor, normalize: bool) -> Tensor:
    x = x.to(compute_dtype(x.dtype))
    return F.normalize(x, dim=-1) if normalize else x


def squared_distances(x: Tensor, y: Tensor) -> Tensor:
    """``(n, m)`` squared Euclidean distances, clamped at 0."""
    d = (x * x).sum(1, keepdim=True) + (y * y).sum(1)[None, :] - 2.0 * (x @ y.T)
    return d.clamp_min(0.0)


def alignment(
    x: Tensor,
    y: Tensor,
    *,
    alpha: float = 2.0,
    normalize: bool = True,
    weights: Tensor | None = None,
    reduction: str = "mean",
    return_output: bool = False,
) -> Tensor | ContrastiveOutput:
    """Alignment loss ``E ||f(x) - f(y)||_2^alpha`` over positive pairs ``(x_i, y_i)``.

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
    return finish(output, reduction, weights, return_output)


def uniformity(
    x: Tensor,
    *,
    t: float = 2.0,
    normalize: bool = True,
    reduction: str = "mean",
    return_output: bool = False,
) -> Tensor | ContrastiveOutput:
    """Uniformity loss ``log E_{i != j} exp(-t ||f(x_i) - f(x_j)||^2)``.

    ``mean`` gives the paper's global form over all ordered pairs; ``none`` gives each anchor's
    own ``log mean_{j != i} exp(-t d_ij)`` (its mean differs from the global value by Jensen).

    Example:
        >>> loss = uniformity(torch.randn(64, 16), t=2)
    """
    check_embeddings(x, "x")
    check_positive(t, "t")
    n = x.shape[0]
    if n < 2:
        raise ValueError("uniformity needs at least two samples")
    z = _embed(x, normalize)
    off = ~torch.eye(n, dtype=torch.bool, device=z.device)
    logits = (-t * squared_distances(z, z)).masked_fill(~off, float("-inf"))
    per_anchor = torch.logsumexp(logits, dim=1) - math.log(n - 1)
    output = ContrastiveOutput(
        per_anchor, torch.ones(n, dtype=torch.bool, device=z.device), {"uniformity": per_anchor}
    )
    if reduction == "mean":
        output.loss = torch.logsumexp(logits.reshape(-1), 0) - math.log(n * (n - 1))
        return output if return_output else output.loss
    return finish(output, reduction, None, return_output)
