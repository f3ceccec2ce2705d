"""Predictive objectives without negatives (BYOL / SimSiam / DirectPred), and the Z-loss for
supervised heads."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from contrastor._validation import check_embeddings, check_positive
from contrastor.engine.output import ContrastiveOutput
from contrastor.engine.precision import full_precision
from contrastor.engine.similarity import compute_dtype, unit_rows
from contrastor.functional._common import check_pair, finish
from contrastor.scale.distributed import LOCAL, Exchange

__all__ = ["predictive_cosine", "z_loss"]


@full_precision
def predictive_cosine(
    prediction: Tensor,
    target: Tensor,
    *,
    weights: Tensor | None = None,
    reduction: str = "mean",
    return_output: bool = False,
    exchange: Exchange | None = None,
) -> Tensor | ContrastiveOutput:
    """BYOL/SimSiam regression of a prediction onto a stopped-gradient target.

        L_i = 2 - 2 cos(p_i, sg(t_i)) = || p_i/|p_i| - sg(t_i)/|t_i| ||^2

    ``prediction`` is the predictor's output for one view, ``target`` the (momentum or shared)
    network's projection of another view of the same sample; no gradient reaches ``target``.
    Symmetrise by also calling it with the views swapped. Grill et al., "Bootstrap Your Own
    Latent", NeurIPS 2020; Chen & He, "Exploring Simple Siamese Representation Learning",
    CVPR 2021 (SimSiam's ``-cos`` is this loss / 2 - 1). DDP: local pairs, averaged over the
    pairs of all ranks.

    Example:
        >>> loss = predictive_cosine(predictor(online(x1)), target_net(x2))
    """
    check_pair(prediction, target)
    if prediction.shape != target.shape:
        raise ValueError(
            f"prediction and target must have the same shape, got {tuple(prediction.shape)} "
            f"and {tuple(target.shape)}"
        )
    p = unit_rows(prediction.to(compute_dtype(prediction.dtype)))
    t = unit_rows(target.detach().to(p.dtype))
    per_anchor = 2.0 - 2.0 * (p * t).sum(-1)
    mask = torch.ones_like(per_anchor, dtype=torch.bool)
    output = ContrastiveOutput(per_anchor, mask, {"cosine": 1.0 - per_anchor / 2})
    return finish(output, reduction, weights, return_output, exchange or LOCAL)


@full_precision
def z_loss(
    logits: Tensor,
    target: Tensor,
    *,
    a: float = 1.0,
    b: float = 1.0,
    weights: Tensor | None = None,
    reduction: str = "mean",
) -> Tensor:
    """The Z-loss, a shift- and scale-invariant classification loss of the spherical family.

    With the logits of each sample standardised, ``z = (o - mean(o)) / std(o)``:

        L = softplus(a * (b - z_y)) / a

    de Brebisson & Vincent, "The Z-loss: a shift and scale invariant classification loss
    belonging to the Spherical Family", 2016. Not the ``(log Z)^2`` logit regulariser of large
    language models. ``logits`` ``(n, C)`` with ``C >= 2``, ``target`` ``(n,)`` class ids.

    Example:
        >>> loss = z_loss(head(features), labels, a=1.0, b=1.0)
    """
    check_embeddings(logits, "logits")
    check_positive(a, "a")
    if logits.shape[1] < 2:
        raise ValueError("the Z-loss needs at least two classes")
    if target.ndim != 1 or target.shape[0] != logits.shape[0]:
        raise ValueError(f"target must have shape ({logits.shape[0]},), got {tuple(target.shape)}")
    if target.is_floating_point() or bool((target < 0).any() | (target >= logits.shape[1]).any()):
        raise ValueError(f"target must hold class ids in [0, {logits.shape[1]})")
    o = logits.to(compute_dtype(logits.dtype))
    # std over C is |o - mean| / sqrt(C); a constant row stays at z = 0 with no gradient
    z = math.sqrt(o.shape[1]) * unit_rows(o - o.mean(1, keepdim=True))
    zy = z.gather(1, target.reshape(-1, 1)).squeeze(1)
    per_sample = F.softplus(a * (b - zy)) / a
    output = ContrastiveOutput(per_sample, torch.ones_like(per_sample, dtype=torch.bool), {})
    return finish(output, reduction, weights, False, LOCAL)
