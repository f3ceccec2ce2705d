"""Multi-view objectives with one term per sample: MV-InfoNCE and MV-DHEL."""

from __future__ import annotations

import torch
from torch import Tensor

from contrastor.engine.output import ContrastiveOutput
from contrastor.engine.partition import log_partition
from contrastor.engine.precision import full_precision
from contrastor.engine.similarity import compute_dtype, unit_rows
from contrastor.engine.temperature import inverse_temperature
from contrastor.engine.views import stack_views
from contrastor.functional._common import finish
from contrastor.functional._views import Views, off_diagonal_mask, view_batch
from contrastor.scale.distributed import Exchange

__all__ = ["growing_consistency", "mv_dhel", "mv_info_nce"]


def _finish_per_sample(
    alignment: Tensor,
    uniformity: Tensor,
    weights: Tensor | None,
    reduction: str,
    return_output: bool,
    exchange: Exchange,
) -> Tensor | ContrastiveOutput:
    per_sample = alignment + uniformity
    output = ContrastiveOutput(
        per_sample,
        torch.ones_like(per_sample, dtype=torch.bool),
        {"positive": alignment, "negative": uniformity},
    )
    return finish(output, reduction, weights, return_output, exchange)


@full_precision
def mv_info_nce(
    features: Views,
    *,
    temperature: float | Tensor = 0.1,
    similarity: str = "cosine",
    weights: Tensor | None = None,
    reduction: str = "mean",
    return_output: bool = False,
    execution: str = "auto",
    tile_size: int | None = None,
    exchange: Exchange | None = None,
) -> Tensor | ContrastiveOutput:
    """MV-InfoNCE: one InfoNCE term per sample over all its view interactions.

        L_i = -log( sum_{v != w} e^{s(z_i^v, z_i^w)/tau}
                    / sum_v sum_{(j, w) != (i, v)} e^{s(z_i^v, z_j^w)/tau} )

    Positives: every ordered pair of distinct views of sample i; the denominator is every
    other view of every sample, for each view of i. Koromilas et al., "A Principled Framework
    for Multi-View Contrastive Learning", 2025. ``features``: ``(n, V, d)`` with ``V >= 2``.
    Per-sample output ``(n,)``. DDP: local samples against the gathered views of all ranks.

    Example:
        >>> loss = mv_info_nce(torch.randn(32, 4, 64), temperature=0.2)   # 4 views
    """
    batch = view_batch(features, similarity=similarity, exchange=exchange)
    inv_t = inverse_temperature(temperature, batch.z)
    if inv_t.ndim:
        raise ValueError("MV-InfoNCE takes one temperature")
    logits = batch.view_logits(inv_t)
    mask = off_diagonal_mask(batch.views, logits.device)
    alignment = -torch.logsumexp(logits[:, mask], dim=1)
    den = log_partition(
        batch.z,
        batch.everyone,
        inv_t,
        self_offset=batch.self_offset,
        execution=execution,
        tile_size=tile_size,
    )
    uniformity = torch.logsumexp(den.reshape(batch.views, batch.n), dim=0)
    return _finish_per_sample(
        alignment, uniformity, weights, reduction, return_output, batch.exchange
    )


@full_precision
def mv_dhel(
    features: Views,
    *,
    temperature: float | Tensor = 0.1,
    similarity: str = "cosine",
    weights: Tensor | None = None,
    reduction: str = "mean",
    return_output: bool = False,
    execution: str = "auto",
    tile_size: int | None = None,
    exchange: Exchange | None = None,
) -> Tensor | ContrastiveOutput:
    """MV-DHEL: multi-view decoupled hyperspherical energy loss.

        L_i = -log sum_{v < w} e^{s(z_i^v, z_i^w)/tau}
              + sum_v log sum_{j != i} e^{s(z_i^v, z_j^v)/tau}

    Alignment of all view pairs of sample i is decoupled from uniformity, which each view
    measures only against the same view of the other samples. Koromilas et al., "A Principled
    Framework for Multi-View Contrastive Learning", 2025. ``features``: ``(n, V, d)``,
    ``V >= 2``; per-sample output ``(n,)``. DDP: local samples against the gathered samples of
    all ranks, view by view.

    Example:
        >>> loss = mv_dhel(torch.randn(32, 5, 64), temperature=0.2)
    """
    batch = view_batch(features, similarity=similarity, exchange=exchange)
    inv_t = inverse_temperature(temperature, batch.z)
    if inv_t.ndim:
        raise ValueError("MV-DHEL takes one temperature")
    if batch.everyone.shape[0] // batch.views < 2:
        raise ValueError("MV-DHEL needs at least two samples")
    logits = batch.view_logits(inv_t)
    upper = torch.triu(torch.ones_like(logits[0], dtype=torch.bool), diagonal=1)
    alignment = -torch.logsumexp(logits[:, upper], dim=1)
    ex, n = batch.exchange, batch.n
    first = ex.offset(n)
    uniformity = torch.zeros_like(alignment)
    for z in batch.own_views:
        uniformity = uniformity + log_partition(
            z,
            ex.gather(z),
            inv_t,
            self_offset=first,
            execution=execution,
            tile_size=tile_size,
        )
    return _finish_per_sample(alignment, uniformity, weights, reduction, return_output, ex)


@full_precision
def growing_consistency(
    views: Views,
    queue: Tensor,
    *,
    temperature: float = 0.1,
    weights: Tensor | None = None,
    reduction: str = "mean",
    return_output: bool = False,
) -> Tensor | ContrastiveOutput:
    """Asymmetric consistency along views ordered from weak to strong augmentation: each
    view's distribution of similarities to a memory ``queue``,
    ``p_k = softmax(z_k . Q^T / tau)``, is pulled towards the previous (weaker) view's,

        L_i = 1/(K - 1) sum_{k >= 1} KL( sg(p_{k-1}) || p_k )

    so strongly augmented views move to the weak ones and not the reverse (directional
    clustering). The loss of Zhang et al., "Hierarchical Consistent Contrastive Learning for
    Skeleton-Based Action Recognition with Growing Augmentations" (HiCLR), AAAI 2023, in its
    generic form; the growing skeleton augmentations are modality-bound and not included.

    Args:
        views: ``(n, K, d)`` or a list of K >= 2 ``(n, d)``, weakest first.
        queue: ``(M, d)`` memory embeddings (e.g. a :class:`~contrastor.state.FeatureQueue`).
    """
    stacked, n, count = stack_views(views, "views")
    if count < 2:
        raise ValueError("growing consistency needs at least two ordered views")
    if queue.ndim != 2 or queue.shape[1] != stacked.shape[1] or queue.shape[0] == 0:
        raise ValueError(f"queue must be a non-empty (M, {stacked.shape[1]}) matrix")
    dtype = compute_dtype(stacked.dtype)
    z = unit_rows(stacked.to(dtype)).reshape(count, n, -1)
    logp = torch.log_softmax(z @ unit_rows(queue.to(dtype)).T / temperature, dim=-1)
    target = logp[:-1].detach()
    kl = (target.exp() * (target - logp[1:])).sum(-1)  # (K - 1, n)
    per_anchor = kl.mean(0)
    output = ContrastiveOutput(per_anchor, torch.ones(n, dtype=torch.bool, device=z.device), {})
    return finish(output, reduction, weights, return_output)
