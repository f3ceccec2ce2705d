"""InfoNCE, one direction or symmetric (CLIP)."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from contrastor._validation import all_finite, check_embeddings, require
from contrastor.engine.blocks import rows_scaled
from contrastor.engine.output import ContrastiveOutput, symmetric_result
from contrastor.engine.precision import full_precision
from contrastor.engine.similarity import prepare
from contrastor.engine.softmax import (
    TransposedScore,
    softmax_objective,
    symmetric_softmax_objective,
)
from contrastor.engine.targets import Targets
from contrastor.functional._common import (
    adjustment,
    finish,
    gather_prepared,
    gathered_targets,
    prepare_pair,
)
from contrastor.scale.distributed import Exchange

__all__ = ["info_nce"]


@full_precision
def info_nce(
    query: Tensor,
    reference: Tensor,
    *,
    temperature: float | Tensor = 0.07,
    reference_temperature: Tensor | None = None,
    symmetric: bool = False,
    labels: Tensor | None = None,
    reference_labels: Tensor | None = None,
    targets: Tensor | Targets | None = None,
    anchor_negatives: Tensor | None = None,
    similarity: str = "cosine",
    score: Callable[..., Tensor] | None = None,
    decoupled: bool = False,
    negative_weights: Tensor | Targets | None = None,
    margin: float | Tensor | Targets | None = None,
    top_k_negatives: int | None = None,
    positive_mode: str = "out",
    label_smoothing: float = 0.0,
    weights: Tensor | None = None,
    reduction: str = "mean",
    return_output: bool = False,
    execution: str = "auto",
    tile_size: int | None = None,
    exchange: Exchange | None = None,
) -> Tensor | ContrastiveOutput:
    """InfoNCE between queries and references; with ``symmetric=True`` the CLIP loss.

    ``L_i = -sum_j Pn_ij s_ij / tau + log sum_j exp(s_ij / tau)`` over references j, where
    ``Pn`` is the row-normalised target: by default query i's positive is reference i
    (references beyond ``n`` are extra negatives, e.g. a queue or mined hard negatives);
    ``labels``/``reference_labels`` make equal labels positive (2-D multi-hot: any overlap);
    ``targets`` gives a soft ``(n, m)`` matrix or a :class:`~contrastor.engine.Targets`.
    Symmetric: ``0.5 * (L_{q->r} + L_{r->q})`` (needs ``n == m``). ``anchor_negatives``
    ``(n, k, d)`` adds k negatives of each query's own to its denominator (e.g. synthetic hard
    negatives from :func:`mix_hard_negatives`).

    Adjustments (:mod:`contrastor.engine.adjust`, exact on both paths):
    ``negative_weights`` ``w_ij`` put ``w_ij exp(l_ij)`` in the denominator for negatives
    (0 leaves one out; cluster-aware weights: :class:`~contrastor.engine.ClusterWeights`);
    ``margin`` ``m`` (or ``m_ij``) makes positive logits ``(s - m) / tau`` (CosFace-style);
    ``top_k_negatives`` keeps the k hardest negatives of each anchor (Wang & Liu, CVPR
    2021); ``positive_mode="in"`` puts several positives inside the log (SupCon's L_in,
    1-to-K); ``label_smoothing`` mixes a uniform target over the denominator.

    Oord et al., "Representation Learning with Contrastive Predictive Coding", 2018;
    Radford et al., "Learning Transferable Visual Models From Natural Language Supervision"
    (CLIP), 2021. DDP: local queries against references gathered from all ranks.

    Args:
        query: ``(n, d)``; reference: ``(m, d)``.
        temperature: tau, a float, a scalar tensor (learnable) or one per query.
        reference_temperature: ``(m,)`` a temperature per reference as well (the gathered
            width across ranks), ``l_ij = s_ij / (tau_i tau'_j)`` (e.g. ProtoNCE's
            per-prototype concentration); gradients reach it. One direction only.
        score: a similarity of your own, ``score(q_rows, r_cols, rows, cols) -> (rows, cols)``
            on the raw rows (``rows``/``cols``: which queries and references a block holds),
            replacing ``similarity``; computed block by block on both paths, an ``nn.Module``'s
            parameters trained (e.g. :class:`~contrastor.losses.ClassPairGates`).
        decoupled: drop positives from the denominator (DCL-style).
        negative_weights, margin: ``(n, m)`` matrices (the gathered width across ranks) or
            :class:`~contrastor.engine.Targets`; a margin may also be one number.
        weights: ``(n,)`` per-anchor weights for the reduction.
        reduction: ``mean`` | ``sum`` | ``none`` (per-anchor values).
        return_output: return a :class:`ContrastiveOutput` with per-anchor terms.
        execution: ``dense``, ``tiled`` (exact, memory linear in n + m) or ``auto`` (by size);
            tile_size: block edge of the tiled path.
        exchange: gather references from other ranks (see :mod:`contrastor.scale.distributed`);
            soft ``targets`` are then ``(n, total references)``.

    Example:
        >>> q, r = torch.randn(8, 32), torch.randn(8, 32)
        >>> loss = info_nce(q, r, temperature=0.1, symmetric=True)
        >>> per_pair = info_nce(q, r, reduction="none")  # shape (8,)
    """
    if score is not None:
        similarity = "dot"  # the score function reads the raw rows
    batch = prepare_pair(
        query,
        reference,
        temperature=temperature,
        similarity=similarity,
        labels=labels,
        reference_labels=reference_labels,
        targets=targets,
        exchange=exchange,
        fold=reference_temperature is None and score is None,
    )
    q, r, everyone = batch.query, batch.reference, batch.everyone
    if reference_temperature is not None:
        everyone = _per_reference(everyone, reference_temperature, symmetric)
    inv_t, target, ex = batch.inverse_temperature, batch.targets, batch.exchange
    n, m = q.shape[0], r.shape[0]
    adjust = adjustment(
        negative_weights=negative_weights,
        margin=margin,
        top_k_negatives=top_k_negatives,
        positive_mode=positive_mode,
        label_smoothing=label_smoothing,
    )
    run = {
        "decoupled": decoupled,
        "normalize": batch.normalize,
        "execution": execution,
        "tile_size": tile_size,
        "adjust": adjust,
    }
    if not symmetric:
        output = softmax_objective(q, everyone, inv_t, target, score=score, **run)
        if anchor_negatives is not None:
            if score is not None:
                raise ValueError("anchor_negatives are compared by dot product, not a score")
            if adjust.top_k is not None or adjust.smoothing:
                raise ValueError("anchor_negatives cannot combine with top-k or label smoothing")
            unit = prepare(q, similarity)
            output = _add_anchor_negatives(output, unit, anchor_negatives, inv_t, similarity)
        return finish(output, reduction, weights, return_output, ex)
    if anchor_negatives is not None:
        raise ValueError("anchor_negatives are defined for the one-directional loss only")
    if n != m:
        raise ValueError(f"symmetric InfoNCE needs as many references as queries, got {n} and {m}")
    if ex.world_size == 1:
        forward, backward = symmetric_softmax_objective(
            q, r, inv_t, target, logit_bound=batch.logit_bound, score=score, **run
        )
    else:
        if targets is not None:
            raise ValueError("symmetric InfoNCE across ranks takes labels, not soft targets")
        if isinstance(adjust.negative_weights, Targets) or isinstance(adjust.margin, Targets):
            raise ValueError("symmetric InfoNCE across ranks takes no weight or margin matrices")
        own = labels if reference_labels is None or labels is None else reference_labels
        reverse = gathered_targets(
            ex,
            m,
            n,
            everyone.shape[0],
            labels=own,
            reference_labels=labels,
            targets=None,
            device=q.device,
        )
        forward = softmax_objective(q, everyone, inv_t, target, score=score, **run)
        queries = gather_prepared(ex, query, q, "dot" if batch.normalize else similarity)
        flipped = None if score is None else TransposedScore(score)
        backward = softmax_objective(r, queries, inv_t, reverse, score=flipped, **run)
    both = [finish(out, reduction, weights, True, ex) for out in (forward, backward)]
    return symmetric_result(*both, return_output)


def _per_reference(everyone: Tensor, temperature: Tensor, symmetric: bool) -> Tensor:
    """Prepared references divided by their own temperatures (``l_ij = s_ij / tau'_j``)."""
    if symmetric:
        raise ValueError("a temperature per reference is defined for one direction only")
    if temperature.shape != (everyone.shape[0],):
        raise ValueError(
            f"reference_temperature must have shape ({everyone.shape[0]},), "
            f"got {tuple(temperature.shape)}"
        )
    positive = all_finite(temperature) & (temperature > 0).all()
    require((positive, "reference_temperature must be finite and > 0"))
    return everyone / temperature.to(everyone.dtype).unsqueeze(1)


def _add_anchor_negatives(
    output: ContrastiveOutput, q: Tensor, negatives: Tensor, inv_t: Tensor, similarity: str
) -> ContrastiveOutput:
    """Fold each query's own extra negatives into its log-sum-exp term."""
    check_embeddings(negatives, "anchor_negatives", ndim=3)
    if negatives.shape[0] != q.shape[0] or negatives.shape[2] != q.shape[1]:
        raise ValueError(
            f"anchor_negatives must have shape ({q.shape[0]}, k, {q.shape[1]}), "
            f"got {tuple(negatives.shape)}"
        )
    logits = rows_scaled(torch.einsum("nd,nkd->nk", q, prepare(negatives, similarity)), inv_t)
    negative = torch.logaddexp(output.terms["negative"], torch.logsumexp(logits, 1))
    negative = torch.where(output.mask, negative, torch.zeros_like(negative))
    positive = output.terms["positive"]
    return ContrastiveOutput(
        per_anchor=positive + negative,
        mask=output.mask,
        terms={"positive": positive, "negative": negative},
    )
