"""Noise-robust contrastive objectives: RINCE, and InfoNCE with soft re-targeting of pairs
suspected to be mismatched."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from contrastor._validation import all_finite, check_positive, require
from contrastor.engine.blocks import rows_scaled
from contrastor.engine.output import ContrastiveOutput, symmetric_result
from contrastor.engine.partition import log_partition
from contrastor.engine.precision import full_precision
from contrastor.engine.similarity import similarity_matrix
from contrastor.engine.softmax import softmax_objective
from contrastor.engine.targets import (
    Columns,
    ComparatorTargets,
    SoftTargets,
    Targets,
    WeightedSum,
)
from contrastor.functional._common import finish, prepare_pair
from contrastor.functional.infonce import info_nce
from contrastor.scale.distributed import Exchange

__all__ = ["false_negative_cancellation", "rince", "soft_retargeted_info_nce"]


@full_precision
def rince(
    query: Tensor,
    reference: Tensor,
    *,
    temperature: float | Tensor = 0.1,
    q: float | None = None,
    lam: float = 0.01,
    symmetric: bool = False,
    labels: Tensor | None = None,
    reference_labels: Tensor | None = None,
    targets: Tensor | Targets | None = None,
    similarity: str = "cosine",
    weights: Tensor | None = None,
    reduction: str = "mean",
    return_output: bool = False,
    execution: str = "auto",
    tile_size: int | None = None,
    exchange: Exchange | None = None,
) -> Tensor | ContrastiveOutput:
    """Robust InfoNCE (RINCE): a bounded, symmetric-loss variant of InfoNCE that
    down-weights hard positives, i.e. likely false (noisy) pairs.

        L_i = -e^{q l_i+} / q + (lam * sum_j e^{l_ij})^q / q

    with ``l = s / tau``, ``l_i+`` the (mean) positive logit and the sum over every compared
    reference (positives included). ``q -> 0`` with ``lam = 1`` recovers InfoNCE; ``q = 1``
    is bounded and noise-tolerant. A positive's gradient is scaled by ``e^{q s+ / tau}``, so
    ``q / tau`` sets how hard it down-weights hard positives: the authors' settings keep
    ``q / tau <= 1`` (weights within ``[1/e, e]``), and ``q`` defaults to the temperature
    (``min(tau, 1)``, followed without its gradient when the temperature is learned); at
    ``q / tau = 5`` nearly every hard positive is dropped and training stalls, noisy or not
    (``docs/noise.md``). Chuang et al., "Robust Contrastive Learning against Noisy Views",
    CVPR 2022. Positives as in :func:`~contrastor.functional.info_nce`; the
    log-sum-exp runs on the tiled path when asked. ``symmetric``: the mean of both directions
    (each reduced over its own anchors; labels swap with their sides). DDP: local queries
    against gathered references.

    Example:
        >>> loss = rince(img_emb, txt_emb, temperature=0.1, lam=0.01)  # q = 0.1
    """
    if q is not None:
        check_positive(q, "q")
        if q > 1:
            raise ValueError(f"q must be in (0, 1], got {q}")
    check_positive(lam, "lam")
    if symmetric:
        if targets is not None:
            raise ValueError("symmetric RINCE takes labels, not soft targets")
        own = labels if reference_labels is None else reference_labels
        run = {
            "temperature": temperature,
            "q": q,
            "lam": lam,
            "similarity": similarity,
            "weights": weights,
            "reduction": reduction,
            "return_output": True,
            "execution": execution,
            "tile_size": tile_size,
            "exchange": exchange,
        }
        first = rince(query, reference, labels=labels, reference_labels=reference_labels, **run)
        second = rince(reference, query, labels=own, reference_labels=labels, **run)
        return symmetric_result(first, second, return_output)
    batch = prepare_pair(
        query,
        reference,
        temperature=temperature,
        similarity=similarity,
        labels=labels,
        reference_labels=reference_labels,
        targets=targets,
        exchange=exchange,
    )
    base = softmax_objective(
        batch.query,
        batch.everyone,
        batch.inverse_temperature,
        batch.targets,
        execution=execution,
        tile_size=tile_size,
    )
    positive = -base.terms["positive"]  # the (mean) positive logit
    lse = base.terms["negative"]
    if q is None:  # tied to the temperature, as a value
        q = (1 / batch.inverse_temperature).detach().clamp(max=1.0)
    attract = -torch.exp(q * positive) / q
    repel = torch.exp(q * (math.log(lam) + lse)) / q
    zero = torch.zeros_like(attract)
    per_anchor = torch.where(base.mask, attract + repel, zero)
    require(
        (
            all_finite(per_anchor),
            f"RINCE's exp(q * logit) overflows {per_anchor.dtype} at this temperature: "
            "q / tau is too large (raise the temperature or lower q)",
        )
    )
    output = ContrastiveOutput(
        per_anchor,
        base.mask,
        {"positive": torch.where(base.mask, attract, zero), "negative": repel * base.mask},
    )
    return finish(output, reduction, weights, return_output, batch.exchange)


@full_precision
def soft_retargeted_info_nce(
    query: Tensor,
    reference: Tensor,
    clean_probability: Tensor,
    *,
    temperature: float | Tensor = 0.1,
    symmetric: bool = True,
    similarity: str = "cosine",
    weights: Tensor | None = None,
    reduction: str = "mean",
    return_output: bool = False,
) -> Tensor | ContrastiveOutput:
    """InfoNCE whose index-aligned targets are softened for pairs suspected to be mismatched:

        t_i = c_i * e_i + (1 - c_i) * sg(softmax_j(s_ij / tau))

    ``c_i`` (``clean_probability``, e.g. from :func:`~contrastor.noise.gmm_clean_probability`)
    keeps a clean pair's one-hot target; a suspected pair instead follows the model's own
    (detached) retrieval distribution, so it stops pulling a wrong partner close (the reverse
    direction of the symmetric loss uses the transposed targets). After the
    soft-label rectification of noisy-correspondence learning (Huang et al., "Learning with
    Noisy Correspondence for Cross-modal Matching", NeurIPS 2021). Dense; single process
    (the target matrix is ``(n, n)``).

    Example:
        >>> c = gmm_clean_probability(history.mean())[index]
        >>> loss = soft_retargeted_info_nce(img, txt, c, temperature=0.1)
    """
    n = query.shape[0]
    if clean_probability.shape != (n,):
        raise ValueError(f"clean_probability must have shape ({n},)")
    c = clean_probability.detach().double().clamp(0, 1)
    with torch.no_grad():
        scores = similarity_matrix(query, reference, similarity).double()
        tau = float(temperature) if not isinstance(temperature, Tensor) else temperature.double()
        own = torch.softmax(scores / tau, dim=1)
        eye = torch.eye(n, dtype=torch.float64, device=scores.device)
        soft = c[:, None].to(scores.device) * eye + (1 - c[:, None].to(scores.device)) * own
    return info_nce(
        query,
        reference,
        temperature=temperature,
        symmetric=symmetric,
        targets=soft,
        similarity=similarity,
        weights=weights,
        reduction=reduction,
        return_output=return_output,
    )


@full_precision
def false_negative_cancellation(
    query: Tensor,
    reference: Tensor,
    suspects: Tensor | Targets,
    *,
    mode: str = "eliminate",
    attract_weight: float = 1.0,
    temperature: float | Tensor = 0.1,
    similarity: str = "cosine",
    weights: Tensor | None = None,
    reduction: str = "mean",
    return_output: bool = False,
    execution: str = "auto",
    tile_size: int | None = None,
    exchange: Exchange | None = None,
) -> Tensor | ContrastiveOutput:
    """InfoNCE (query i's positive is reference i) with suspected false negatives handled.

    ``suspects``: ``(n, m)`` bool (e.g. from :func:`~contrastor.noise.false_negative_mask`)
    or a :class:`~contrastor.engine.Targets` read block by block (e.g.
    :func:`~contrastor.noise.guide_suspects`: a guide's score above the positive's minus a
    margin), against all ranks' references when gathering:

    - ``"eliminate"``: suspects leave the denominator,
      ``L_i = -l_ii + log(e^{l_ii} + sum_{j != i, j not suspect} e^{l_ij})``;
    - ``"attract"``: suspects become extra positives of weight ``attract_weight`` (the
      target row is normalised, as in SupCon).

    Huynh et al., "Boosting Contrastive Self-Supervised Learning with False Negative
    Cancellation", WACV 2022. Both modes run on the tiled path when asked (suspects are read
    block by block). DDP: local queries against gathered references.

    Example:
        >>> suspects = false_negative_mask(q, r, top_k=2, threshold=0.8)
        >>> loss = false_negative_cancellation(q, r, suspects, mode="eliminate")
    """
    if mode not in ("eliminate", "attract"):
        raise ValueError(f"mode must be 'eliminate' or 'attract', got {mode!r}")
    batch = prepare_pair(
        query, reference, temperature=temperature, similarity=similarity, exchange=exchange
    )
    n, total = batch.query.shape[0], batch.everyone.shape[0]
    offset = batch.exchange.offset(batch.reference.shape[0])
    if isinstance(suspects, Tensor):
        if suspects.shape != (n, total):
            raise ValueError(
                f"suspects must have shape ({n}, {total}), got {tuple(suspects.shape)}"
            )
        mask = suspects.to(torch.float64).clone()
        mask[torch.arange(n), offset + torch.arange(n)] = 0.0
        suspects = SoftTargets(mask)
    elif tuple(suspects.shape) != (n, total):
        raise ValueError(f"suspects must cover ({n}, {total}), got {tuple(suspects.shape)}")
    run = {"execution": execution, "tile_size": tile_size}
    inv_t = batch.inverse_temperature
    if mode == "attract":
        targets = WeightedSum([(1.0, batch.targets), (attract_weight, suspects)])
        output = softmax_objective(batch.query, batch.everyone, inv_t, targets, **run)
        return finish(output, reduction, weights, return_output, batch.exchange)
    # the denominator is the positive and the references neither positive nor suspect; the
    # positive is appended as a column of its own so that no row's sum is ever empty
    own = batch.everyone[offset : offset + n]
    rows = torch.arange(n, device=own.device)
    exclude = Columns(
        [
            WeightedSum([(1.0, batch.targets), (1.0, suspects)]),
            ComparatorTargets(rows, rows, lambda a, b: a[:, None] != b[None, :]),
        ]
    )
    references = torch.cat([batch.everyone, own])
    negative = log_partition(batch.query, references, inv_t, exclude=exclude, **run)
    positive = rows_scaled((batch.query * own).sum(-1, keepdim=True), inv_t).squeeze(1)
    per_anchor = negative - positive
    output = ContrastiveOutput(
        per_anchor,
        torch.ones_like(per_anchor, dtype=torch.bool),
        {"positive": -positive, "negative": negative},
    )
    return finish(output, reduction, weights, return_output, batch.exchange)
