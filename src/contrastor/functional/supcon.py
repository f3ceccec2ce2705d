"""Supervised contrastive loss and its label-free multi-view cases (NT-Xent, DCL, DCLW)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from contrastor._validation import check_labels
from contrastor.engine.adjust import Adjust
from contrastor.engine.output import ContrastiveOutput
from contrastor.engine.precision import full_precision
from contrastor.engine.similarity import folded, prepare
from contrastor.engine.softmax import softmax_objective
from contrastor.engine.targets import (
    LabelTargets,
    MultiLabelTargets,
    Targets,
    ViewTargets,
    resolve_targets,
)
from contrastor.engine.temperature import inverse_temperature
from contrastor.engine.views import stack_views
from contrastor.functional._common import finish, gather_prepared
from contrastor.functional._views import same_sample_targets
from contrastor.scale.distributed import LOCAL, Exchange

__all__ = ["dcl", "dclw", "hard_contrastive", "nt_xent", "supcon"]

Views = Tensor | Sequence[Tensor]


@full_precision
def supcon(
    features: Views,
    labels: Tensor | None = None,
    *,
    temperature: float | Tensor = 0.1,
    targets: Tensor | Targets | None = None,
    similarity: str = "cosine",
    decoupled: bool = False,
    positive_mode: str = "out",
    top_k_negatives: int | None = None,
    positive_weight: Tensor | None = None,
    weights: Tensor | None = None,
    reduction: str = "mean",
    return_output: bool = False,
    execution: str = "auto",
    tile_size: int | None = None,
    exchange: Exchange | None = None,
) -> Tensor | ContrastiveOutput:
    """Supervised contrastive loss (SupCon, the "L_out" form by default) over all views.

    With every view of every sample as an anchor ``a`` and ``P(a)`` the other views whose
    sample shares a's label (every other view of the same sample included):

        L_a = -1/|P(a)| sum_{p in P(a)} log( exp(z_a.z_p/tau) / sum_{k != a} exp(z_a.z_k/tau) )

    ``positive_mode="in"`` is the paper's ``L_in``, the average inside the log:
    ``L_a = -log( 1/|P(a)| sum_p exp(z_a.z_p/tau) / sum_{k != a} exp(z_a.z_k/tau) )``.
    Anchors with no positive (a class seen once, with one view) are left out of the mean.
    Without labels each sample is its own class: NT-Xent. Labels may be class ids ``(n,)`` or
    multi-hot ``(n, C)`` (positive if any label is shared); ``targets`` takes a sample-level
    soft matrix or :class:`~contrastor.engine.Targets` (e.g. a comparator).

    Khosla et al., "Supervised Contrastive Learning", NeurIPS 2020. DDP: local anchors against
    the gathered batch, labels gathered alongside.

    Args:
        features: ``(n, V, d)``, ``(n, d)`` (one view, labels needed) or a list of ``(n, d)``.
        labels: one per sample.
        decoupled: drop positives from the denominator (DCL).
        positive_mode: ``out`` (the paper's better-performing default) or ``in``.
        top_k_negatives: keep only each anchor's k hardest negatives in its denominator
            (:func:`hard_contrastive`).
        positive_weight: ``(V*n,)`` view-major multiplier of each anchor's positive term.
        weights: ``(n,)`` per-sample weights, shared by the sample's views.
        reduction: ``mean`` | ``sum`` | ``none`` (an ``(n, V)`` tensor).
        execution: ``dense``, ``tiled`` (exact, memory linear in the batch) or ``auto``;
            tile_size: block edge of the tiled path.
        exchange: contrast local anchors with the views of all ranks
            (:mod:`contrastor.scale.distributed`); needs labels rather than ``targets``.

    Example:
        >>> z = torch.randn(16, 2, 64)                # 16 samples, 2 views
        >>> y = torch.randint(0, 4, (16,))
        >>> loss = supcon(z, y, temperature=0.1)
        >>> per_view = supcon(z, y, reduction="none")  # shape (16, 2)
    """
    normalize, cast = folded(similarity)  # the kernel normalises and checks the row norms
    stacked, n, views = stack_views(features, "features", values=not normalize)
    if views == 1 and labels is None and targets is None:
        raise ValueError(
            "one view without labels has no positives: give labels or at least two views"
        )
    ex = exchange or LOCAL
    z = prepare(stacked, cast)
    inv_t = inverse_temperature(temperature, z)
    if inv_t.ndim == 1:
        if inv_t.shape[0] != n:
            raise ValueError(f"per-sample temperature needs {n} values, got {inv_t.shape[0]}")
        inv_t = inv_t.repeat(views)
    if targets is not None:
        if ex.world_size > 1:
            raise ValueError("sample-level targets cannot be gathered across ranks: give labels")
        target = ViewTargets(resolve_targets(n, n, labels=labels, targets=targets), views)
        everyone, first = z, 0
    else:
        if labels is None:
            target = same_sample_targets(n, views, ex, z.device)
        else:
            check_labels(labels, n)
            rows = labels.repeat(views, *([1] * (labels.ndim - 1)))
            kind = MultiLabelTargets if labels.ndim == 2 else LabelTargets
            target = kind(rows, ex.gather(rows))
        everyone, first = gather_prepared(ex, stacked, z, cast), ex.offset(n * views)
    output = softmax_objective(
        z,
        everyone,
        inv_t,
        target,
        self_offset=first,
        decoupled=decoupled,
        positive_weight=positive_weight,
        normalize=normalize,
        execution=execution,
        tile_size=tile_size,
        adjust=Adjust(top_k=top_k_negatives, positive_mode=positive_mode),
    ).map(lambda t: t.reshape(views, n).T)
    if weights is not None:
        weights = weights.reshape(n, 1).expand(n, views)
    return finish(output, reduction, weights, return_output, ex)


@full_precision
def nt_xent(
    views: Views,
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
    """NT-Xent (SimCLR): every view's positives are the other views of its sample.

        L_a = -1/|P(a)| sum_{p in P(a)} log( exp(z_a.z_p/tau) / sum_{k != a} exp(z_a.z_k/tau) )

    over the ``V*n`` stacked views (two views: the SimCLR loss; more: averaged positives).
    Chen et al., "A Simple Framework for Contrastive Learning of Visual Representations", 2020.
    DDP: local anchors against the gathered views.

    Example:
        >>> v1, v2 = torch.randn(32, 128), torch.randn(32, 128)
        >>> loss = nt_xent([v1, v2], temperature=0.1)
    """
    _require_views(views, 2)
    return supcon(
        views,
        temperature=temperature,
        similarity=similarity,
        weights=weights,
        reduction=reduction,
        return_output=return_output,
        execution=execution,
        tile_size=tile_size,
        exchange=exchange,
    )


@full_precision
def hard_contrastive(
    views: Views,
    *,
    top_k_negatives: int,
    temperature: float | Tensor = 0.2,
    similarity: str = "cosine",
    weights: Tensor | None = None,
    reduction: str = "mean",
    return_output: bool = False,
    execution: str = "auto",
    tile_size: int | None = None,
    exchange: Exchange | None = None,
) -> Tensor | ContrastiveOutput:
    """Hard contrastive loss: NT-Xent whose denominator keeps, for each anchor, its positives
    and only its ``top_k_negatives`` most similar negatives:

        L_a = -1/|P(a)| sum_{p in P(a)} log( exp(s_ap/tau) / sum_{k in D(a)} exp(s_ak/tau) ),
        D(a) = P(a) u N_K(a)

    with ``N_K(a)`` the K negatives of largest ``s_ak`` (ties at the K-th all kept). The
    explicit form of the hardness-awareness that the temperature controls: with a small K a
    larger temperature can be used while keeping the penalty on hard negatives.
    Wang & Liu, "Understanding the Behaviour of Contrastive Loss", CVPR 2021 (the hardest
    negatives of a memory bank). DDP: the K hardest among all ranks' views.

    Example:
        >>> loss = hard_contrastive([v1, v2], top_k_negatives=64, temperature=0.2)
    """
    _require_views(views, 2)
    return supcon(
        views,
        temperature=temperature,
        similarity=similarity,
        top_k_negatives=top_k_negatives,
        weights=weights,
        reduction=reduction,
        return_output=return_output,
        execution=execution,
        tile_size=tile_size,
        exchange=exchange,
    )


@full_precision
def dcl(
    views: Views,
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
    """Decoupled contrastive loss: NT-Xent with the positives removed from the denominator.

        L_a = -z_a.z_p/tau + log sum_{k not in {a} u P(a)} exp(z_a.z_k/tau)

    Yeh et al., "Decoupled Contrastive Learning", ECCV 2022. The mean runs over all ``2n``
    anchors (the paper's reference code sums the two directions' means: twice this value).
    DDP: local anchors against the gathered views.

    Example:
        >>> loss = dcl([torch.randn(32, 128), torch.randn(32, 128)], temperature=0.1)
    """
    _require_views(views, 2)
    return supcon(
        views,
        temperature=temperature,
        similarity=similarity,
        decoupled=True,
        weights=weights,
        reduction=reduction,
        return_output=return_output,
        execution=execution,
        tile_size=tile_size,
        exchange=exchange,
    )


@full_precision
def dclw(
    views: Views,
    *,
    temperature: float | Tensor = 0.1,
    sigma: float = 0.5,
    similarity: str = "cosine",
    weights: Tensor | None = None,
    reduction: str = "mean",
    return_output: bool = False,
    execution: str = "auto",
    tile_size: int | None = None,
    exchange: Exchange | None = None,
) -> Tensor | ContrastiveOutput:
    """Weighted DCL: DCL whose positive term is scaled by a von Mises-Fisher weight

        w_i = 2 - exp(z1_i.z2_i / sigma) / mean_k exp(z1_k.z2_k / sigma)

    so easy positives (high similarity) count less. Two views only; both anchors of pair i
    use ``w_i`` (gradient flows through w, as in the paper's reference code).
    Yeh et al., "Decoupled Contrastive Learning", ECCV 2022.

    Example:
        >>> loss = dclw([torch.randn(32, 128), torch.randn(32, 128)], sigma=0.5)
    """
    stacked, n, count = stack_views(views, "views")
    if count != 2:
        raise ValueError(f"DCLW is defined for exactly two views, got {count}")
    z = prepare(stacked, similarity)
    if not sigma > 0:
        raise ValueError(f"sigma must be positive, got {sigma}")
    agreement = (z[:n] * z[n:]).sum(1) / sigma
    everyone = (exchange or LOCAL).gather(agreement)
    w = 2.0 - everyone.shape[0] * torch.exp(agreement - torch.logsumexp(everyone, 0))
    return supcon(
        views,
        temperature=temperature,
        similarity=similarity,
        decoupled=True,
        positive_weight=w.repeat(2),
        weights=weights,
        reduction=reduction,
        return_output=return_output,
        execution=execution,
        tile_size=tile_size,
        exchange=exchange,
    )


def _require_views(views: Views, least: int) -> None:
    count = (views.shape[1] if views.ndim == 3 else 1) if isinstance(views, Tensor) else len(views)
    if count < least:
        raise ValueError(f"this loss needs at least {least} views of each sample, got {count}")
