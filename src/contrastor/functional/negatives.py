"""Reweighted negatives: debiased and hardness-weighted contrast (DCL-debiased / HCL), and
contrastive attraction and repulsion (CACR)."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from contrastor._validation import check_positive
from contrastor.engine.output import ContrastiveOutput
from contrastor.engine.partition import log_partition
from contrastor.engine.precision import full_precision
from contrastor.engine.temperature import inverse_temperature
from contrastor.functional._common import finish
from contrastor.functional._views import Views, off_diagonal_mask, view_batch
from contrastor.functional.geometry import squared_distances
from contrastor.scale.distributed import Exchange

__all__ = ["cacr", "debiased_contrastive"]


def _debiased(log_r: Tensor, log_positive: Tensor, class_prior: float) -> Tensor:
    """``log(R - tau+ N e^{l+}) - log(1 - tau+)`` in the log domain, ``-inf`` where the
    estimate is not positive: ``log_r = log R``, ``log_positive = log(N e^{l+})``, so no
    exponential can overflow at small temperatures (nor its gradient meet ``0 * inf``)."""
    if class_prior == 0:
        return log_r
    log_ratio = math.log(class_prior) + log_positive - log_r
    below = log_ratio < 0
    # log(1 - e^x) = log(-expm1(x)), accurate near 0; x <= -tiny keeps the gradient finite
    tiny = torch.finfo(log_ratio.dtype).tiny
    safe = torch.where(below, log_ratio, -1.0).clamp(max=-tiny)
    shrunk = log_r + torch.log(-torch.expm1(safe)) - math.log1p(-class_prior)
    return torch.where(below, shrunk, -math.inf)


@full_precision
def debiased_contrastive(
    features: Views,
    labels: Tensor | None = None,
    *,
    temperature: float | Tensor = 0.5,
    class_prior: float = 0.1,
    concentration: float = 0.0,
    similarity: str = "cosine",
    weights: Tensor | None = None,
    reduction: str = "mean",
    return_output: bool = False,
    execution: str = "auto",
    tile_size: int | None = None,
    exchange: Exchange | None = None,
) -> Tensor | ContrastiveOutput:
    """Debiased contrastive loss with hardness-reweighted negatives.

    For anchor ``a`` (a view of sample i), one of its positives ``p`` (another view of i),
    logits ``l = s / tau`` and its ``N`` negatives ``k``, the hardness-weighted negative mass
    (weights ``e^{beta l_ak}`` normalised to mean 1) is

        R_a  = N * sum_k e^{(1 + beta) l_ak} / sum_k e^{beta l_ak}
        Ng_p = max( (R_a - N tau+ e^{l_ap}) / (1 - tau+),  N e^{-1/tau} )
        L_a  = mean_p -log( e^{l_ap} / (e^{l_ap} + Ng_p) )

    ``class_prior`` (tau+) is the chance that a "negative" shares the anchor's class;
    subtracting it debiases against false negatives. ``concentration`` (beta) up-weights
    negatives close to the anchor; beta = 0 is the debiased loss, tau+ = beta = 0 is NT-Xent.
    With ``labels``, same-class samples are removed from the negatives (label-aware hard
    negatives). Chuang et al., "Debiased Contrastive Learning", NeurIPS 2020; Robinson et al.,
    "Contrastive Learning with Hard Negative Samples", ICLR 2021. The floor assumes cosine
    similarity. ``features``: ``(n, V, d)``, ``V >= 2``; per-anchor output ``(n, V)``.
    DDP: local anchors against the gathered views of all ranks.

    Example:
        >>> loss = debiased_contrastive(z, temperature=0.5, class_prior=0.1, concentration=1.0)
    """
    if not 0.0 <= class_prior < 1.0:
        raise ValueError(f"class_prior must be in [0, 1), got {class_prior}")
    if concentration < 0:
        raise ValueError(f"concentration must be >= 0, got {concentration}")
    batch = view_batch(features, similarity=similarity, labels=labels, exchange=exchange)
    inv_t = inverse_temperature(temperature, batch.z)
    if inv_t.ndim:
        raise ValueError("the debiased loss takes one temperature")
    exclude = batch.same_class or batch.same_sample
    count = (batch.everyone.shape[0] - batch.same_count(exclude)).to(batch.z.dtype)
    if bool((count < 1).any()):
        raise ValueError("an anchor has no negatives (every sample shares its class)")
    run = {"self_offset": batch.self_offset, "exclude": exclude}
    run |= {"execution": execution, "tile_size": tile_size}
    weighted = log_partition(batch.z, batch.everyone, (1.0 + concentration) * inv_t, **run)
    if concentration > 0:
        weighted = weighted - log_partition(batch.z, batch.everyone, concentration * inv_t, **run)
    else:
        weighted = weighted - torch.log(count)
    log_n = torch.log(count)

    def column(values: Tensor) -> Tensor:
        return batch.per_sample(values)[:, :, None]

    log_r = column(log_n + weighted)
    logits = batch.view_logits(inv_t)
    floor = column(log_n - inv_t)
    log_ng = torch.maximum(_debiased(log_r, column(log_n) + logits, class_prior), floor)
    per_positive = torch.logaddexp(logits, log_ng) - logits
    mask = off_diagonal_mask(batch.views, logits.device)
    per_anchor = (per_positive * mask).sum(2) / (batch.views - 1)
    negative = (torch.logaddexp(logits, log_ng) * mask).sum(2) / (batch.views - 1)
    output = ContrastiveOutput(
        per_anchor,
        torch.ones_like(per_anchor, dtype=torch.bool),
        {"positive": per_anchor - negative, "negative": negative},
    )
    if weights is not None:
        weights = weights.reshape(-1, 1).expand(batch.n, batch.views)
    return finish(output, reduction, weights, return_output, batch.exchange)


@full_precision
def cacr(
    features: Views,
    *,
    attraction_temperature: float = 1.0,
    repulsion_temperature: float = 1.0,
    attraction_weight: float = 1.0,
    repulsion_weight: float = 1.0,
    similarity: str = "cosine",
    weights: Tensor | None = None,
    reduction: str = "mean",
    return_output: bool = False,
    exchange: Exchange | None = None,
) -> Tensor | ContrastiveOutput:
    """Contrastive attraction and contrastive repulsion (CACR).

    With ``c(a, b) = ||z_a - z_b||^2``, anchor ``a`` (view v of sample i), its positives
    ``P(a)`` (the other views of i) and negatives ``N(a)`` (every view of every other sample):

        pi+(p | a) = softmax_{p in P(a)}( t+ c(a, p) )      (far positives attract more)
        pi-(k | a) = softmax_{k in N(a)}( -t- c(a, k) )     (close negatives repel more)
        L_a = alpha * sum_p pi+ c(a, p) - beta * sum_k pi- c(a, k)

    Zheng et al., "Contrastive Attraction and Contrastive Repulsion for Representation
    Learning", TMLR 2023 (the conditional weights stay in the gradient, as in the paper's
    code). ``features``: ``(n, V, d)``, ``V >= 2``; per-anchor output ``(n, V)``; dense only.
    DDP: local anchors, negatives gathered from all ranks.

    Example:
        >>> loss = cacr(torch.randn(32, 2, 64), repulsion_temperature=2.0)
    """
    for value, name in [
        (attraction_temperature, "attraction_temperature"),
        (repulsion_temperature, "repulsion_temperature"),
    ]:
        check_positive(value, name)
    batch = view_batch(features, similarity=similarity, exchange=exchange)
    z = batch.own_views
    pos = squared_distances(batch.z, batch.z).reshape(batch.views, batch.n, batch.views, batch.n)
    pos = torch.diagonal(pos, dim1=1, dim2=3).permute(2, 0, 1)  # (n, V, V)
    mask = off_diagonal_mask(batch.views, z.device)
    pos_logits = (attraction_temperature * pos).masked_fill(~mask, float("-inf"))
    attraction = (torch.softmax(pos_logits, dim=2) * pos.masked_fill(~mask, 0.0)).sum(2)
    cost = squared_distances(batch.z, batch.everyone)
    negatives = ~batch.same_sample.dense().bool()
    if not bool(negatives.any(1).all()):
        raise ValueError("CACR needs at least two samples (no negatives)")
    neg_logits = (-repulsion_temperature * cost).masked_fill(~negatives, float("-inf"))
    repulsion = (torch.softmax(neg_logits, dim=1) * cost.masked_fill(~negatives, 0.0)).sum(1)
    attraction = attraction_weight * attraction
    repulsion = -repulsion_weight * batch.per_sample(repulsion)
    per_anchor = attraction + repulsion
    output = ContrastiveOutput(
        per_anchor,
        torch.ones_like(per_anchor, dtype=torch.bool),
        {"attraction": attraction, "repulsion": repulsion},
    )
    if weights is not None:
        weights = weights.reshape(-1, 1).expand(batch.n, batch.views)
    return finish(output, reduction, weights, return_output, batch.exchange)
