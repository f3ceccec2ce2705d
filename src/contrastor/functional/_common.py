"""Steps every functional loss shares: input checks, preparing a (query, reference) batch,
and the final reduction."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from contrastor._validation import check_embeddings, check_same_dim, require
from contrastor.engine.adjust import Adjust
from contrastor.engine.output import ContrastiveOutput, check_reduction, reduce
from contrastor.engine.similarity import folded, prepare
from contrastor.engine.targets import SoftTargets, Targets, resolve_targets
from contrastor.engine.temperature import inverse_temperature
from contrastor.scale.distributed import LOCAL, Exchange


def check_pair(query: Tensor, reference: Tensor, values: bool = True) -> None:
    """Validate a (query, reference) pair of embedding matrices (``values``: as
    :func:`~contrastor._validation.check_embeddings`)."""
    check_embeddings(query, "query", values=values)
    check_embeddings(reference, "reference", values=values)
    check_same_dim(query, reference, ("query", "reference"))


@dataclass
class PairBatch:
    """Queries and references ready for an objective.

    ``query``/``reference``: this rank's prepared embeddings; ``everyone``: the references of
    all ranks; ``targets``: local queries against ``everyone``; ``normalize``: the rows are
    still to be L2-normalised, by the objective's kernel (``prepare_pair(fold=True)``);
    ``logit_bound``: ``1/tau`` for a fixed temperature of cosine logits (``|l| <= 1/tau``),
    known on the host, else ``None``.
    """

    query: Tensor
    reference: Tensor
    everyone: Tensor
    inverse_temperature: Tensor
    targets: Targets
    exchange: Exchange
    normalize: bool = False
    logit_bound: float | None = None


def prepare_pair(
    query: Tensor,
    reference: Tensor,
    *,
    temperature: float | Tensor,
    similarity: str,
    labels: Tensor | None = None,
    reference_labels: Tensor | None = None,
    targets: Tensor | Targets | None = None,
    exchange: Exchange | None = None,
    fold: bool = False,
) -> PairBatch:
    """Check, prepare (similarity, temperature) and gather a (query, reference) batch.
    ``fold``: leave cosine normalisation to the objective's kernel (``normalize=``), which
    folds it into the scales of its products."""
    normalize, similarity = folded(similarity) if fold else (False, similarity)
    check_pair(query, reference, values=not normalize)  # the kernel checks the row norms
    ex = exchange or LOCAL
    common = torch.promote_types(query.dtype, reference.dtype)
    q, r = prepare(query.to(common), similarity), prepare(reference.to(common), similarity)
    everyone = gather_prepared(ex, reference, r, similarity)
    target = gathered_targets(
        ex,
        q.shape[0],
        r.shape[0],
        everyone.shape[0],
        labels=labels,
        reference_labels=reference_labels,
        targets=targets,
        device=q.device,
    )
    inv_t = inverse_temperature(temperature, q)
    bound = 1.0 / temperature if normalize and isinstance(temperature, float) else None
    return PairBatch(q, r, everyone, inv_t, target, ex, normalize, bound)


def adjustment(
    *,
    negative_weights: Tensor | Targets | None = None,
    margin: float | Tensor | Targets | None = None,
    top_k_negatives: int | None = None,
    positive_mode: str = "out",
    label_smoothing: float = 0.0,
) -> Adjust:
    """The :class:`~contrastor.engine.adjust.Adjust` of a loss call's options; weight and
    margin matrices become :class:`~contrastor.engine.targets.SoftTargets` (a margin tensor
    must be an ``(n, m)`` matrix: margins are constants, not learned)."""
    if isinstance(negative_weights, Tensor):
        negative_weights = SoftTargets(negative_weights.detach())
    if isinstance(margin, Tensor):
        if margin.ndim != 2:
            raise ValueError(f"a margin tensor must be an (n, m) matrix, got {tuple(margin.shape)}")
        margin = SoftTargets(margin.detach())
    elif margin is not None and not isinstance(margin, Targets):
        margin = float(margin)
    return Adjust(negative_weights, margin, top_k_negatives, positive_mode, label_smoothing)


def gather_prepared(ex: Exchange, raw: Tensor, prepared: Tensor, similarity: str) -> Tensor:
    """All ranks' ``prepare(raw)``: the rows travel in their own dtype (bf16 embeddings move
    half the bytes of float32) and are prepared after the gather; one process returns
    ``prepared`` itself."""
    return prepared if ex.world_size == 1 else prepare(ex.gather(raw), similarity)


def finish(
    output: ContrastiveOutput,
    reduction: str,
    weights: Tensor | None,
    return_output: bool,
    exchange: Exchange = LOCAL,
) -> Tensor | ContrastiveOutput:
    """Reduce per-anchor losses; return the loss, or the whole output when asked.

    Across ranks, ``mean`` and ``sum`` give the rank's share of the global value, scaled so
    that averaging over ranks (as DDP does with gradients) yields the global loss.
    """
    check_reduction(reduction)
    output.loss = distributed_reduce(
        output.per_anchor, output.mask, reduction, weights, exchange, output.complete
    )
    return output if return_output else output.loss


def distributed_reduce(
    per_anchor: Tensor,
    mask: Tensor,
    reduction: str,
    weights: Tensor | None,
    exchange: Exchange = LOCAL,
    complete: bool = False,
) -> Tensor:
    """:func:`~contrastor.engine.output.reduce` over the anchors of all ranks."""
    world = exchange.world_size
    if world == 1 or reduction == "none":
        return reduce(per_anchor, mask, reduction, weights, complete)
    local = reduce(per_anchor, mask, "sum", weights)
    if reduction == "sum":
        return local * world
    w = mask.to(per_anchor.dtype)
    if weights is not None:
        w = w * weights.reshape(per_anchor.shape).to(per_anchor.dtype)
    total = exchange.total(w.sum())
    require((total > 0, "all anchors have zero weight: the weighted mean is undefined"))
    return local * world / total


def gathered_targets(
    exchange: Exchange,
    n: int,
    local_references: int,
    all_references: int,
    *,
    labels: Tensor | None,
    reference_labels: Tensor | None,
    targets: Tensor | Targets | None,
    device: torch.device,
) -> Targets:
    """Targets of ``n`` local queries against the references gathered from all ranks: labels
    are gathered alongside, index alignment points into this rank's share."""
    ref_labels = labels if reference_labels is None else reference_labels
    return resolve_targets(
        n,
        all_references,
        labels=labels,
        reference_labels=None if labels is None else exchange.gather(ref_labels),
        targets=targets,
        offset=exchange.offset(local_references),
        device=device,
    )
