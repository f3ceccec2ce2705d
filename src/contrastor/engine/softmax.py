"""The softmax (InfoNCE) objective.

For queries ``q_i`` and references ``r_j`` (already prepared by the similarity), logits
``l_ij = s(q_i, r_j) / tau``, target weights ``P_ij >= 0`` and an excluded self pair:

    L_i = w_i * [ - sum_j Pn_ij l_ij ]  +  log sum_{j in D_i} exp(l_ij)
          '------ "positive" term ------'   '------ "negative" term -----'

where ``Pn_i = P_i / sum_j P_ij`` (multi-positive and soft targets are averaged, the SupCon
"out" form), ``D_i`` is every compared reference (``all``) or every compared non-positive
(``decoupled``, DCL), and ``w_i`` is an optional per-anchor positive weight (DCLW).
Anchors without positives do not contribute. One positive and ``w = 1`` is InfoNCE.

Both execution paths run the block kernel of :mod:`contrastor.engine.blocks`: ``dense``
keeps the logits for the backward pass (memory ``n x m``), ``tiled`` recomputes them block by
block (memory linear in ``n + m``); ``auto`` keeps them while they fit the budget of
:data:`DENSE_UP_TO` for the device type.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from contrastor.engine.adjust import NO_ADJUST, Adjust
from contrastor.engine.blocks import BlockSoftmax, Layout
from contrastor.engine.output import ContrastiveOutput
from contrastor.engine.targets import Targets

EXECUTIONS = ("auto", "dense", "tiled")
#: ``auto`` keeps the logits (dense) up to this many score-matrix entries, per device type
DENSE_UP_TO = {"cpu": 1 << 24, "cuda": 1 << 28}
#: tile edge per device type and path: cache-sized blocks on CPU; on accelerators the
#: dense path takes the whole matrix as one block
DEFAULT_TILE = {("cpu", "dense"): 512, ("cpu", "tiled"): 512, ("cuda", "tiled"): 4096}


#: the largest logit bound M for which exp(l - M) over |l| <= M stays clear of float32
#: underflow (e^-80 is about 2e-35)
SHIFT_UP_TO = 40.0


def check_execution(execution: str) -> str:
    if execution not in EXECUTIONS:
        raise ValueError(f"execution must be one of {EXECUTIONS}, got {execution!r}")
    return execution


def resolve_execution(
    execution: str, n: int, m: int, device: torch.device, tile_size: int | None = None
) -> tuple[bool, int]:
    """``(keep, tile)`` for a call: whether the logits are kept (the dense path) and the tile
    edge. ``auto`` means dense up to :data:`DENSE_UP_TO` entries, tiled beyond."""
    kind = device.type if device.type in ("cpu", "cuda") else "cuda"
    if check_execution(execution) == "auto":
        execution = "dense" if n * m <= DENSE_UP_TO[kind] else "tiled"
    if tile_size is not None and tile_size < 1:
        raise ValueError(f"tile_size must be positive, got {tile_size}")
    tile = tile_size or DEFAULT_TILE.get((kind, execution), max(n, m))
    return execution == "dense", tile


def softmax_objective(
    query: Tensor,
    reference: Tensor,
    inverse_temperature: Tensor,
    targets: Targets,
    *,
    self_offset: int | None = None,
    decoupled: bool = False,
    positive_weight: Tensor | None = None,
    normalize: bool = False,
    execution: str = "auto",
    tile_size: int | None = None,
    adjust: Adjust = NO_ADJUST,
    score: Callable[..., Tensor] | None = None,
) -> ContrastiveOutput:
    """Per-anchor softmax contrastive loss (see the module docstring for the formula).

    Args:
        query: ``(n, d)`` prepared queries; reference: ``(m, d)`` prepared references
            (raw ones with ``normalize``).
        inverse_temperature: ``1/tau``, a scalar or one per query.
        targets: positive weights ``(n, m)``.
        self_offset: query i is reference ``self_offset + i`` when both are one set (that
            pair is neither positive nor negative).
        decoupled: remove positives from the denominator (DCL).
        positive_weight: ``(n,)`` multiplier of the positive term (DCLW).
        normalize: cosine similarity of raw rows, the norms folded into the kernel's scales
            (:class:`~contrastor.engine.blocks.Operands`).
        execution: ``dense`` keeps the ``(n, m)`` logits for backward; ``tiled`` recomputes
            them in ``tile_size`` blocks (exact, memory linear in n + m); ``auto`` by size.
        adjust: negative weights, margins, top-k negatives, positive mode, label smoothing
            (:mod:`contrastor.engine.adjust`).
        score: a similarity ``score(q_rows, r_cols, rows, cols)`` used instead of the dot
            product on the raw rows (:class:`~contrastor.engine.blocks.ScoreOperands`); an
            ``nn.Module``'s parameters receive gradients.
    """
    call = kernel_call(
        query,
        reference,
        inverse_temperature,
        targets,
        execution,
        tile_size,
        self_offset=self_offset,
        decoupled=decoupled,
        normalize=normalize,
        adjust=adjust,
        score=score,
    )
    stats = BlockSoftmax.apply(*call, False, *score_parameters(score))
    return _assemble(*stats, positive_weight, call[3].defined[0])


def symmetric_softmax_objective(
    query: Tensor,
    reference: Tensor,
    inverse_temperature: Tensor,
    targets: Targets,
    *,
    decoupled: bool = False,
    normalize: bool = False,
    execution: str = "auto",
    tile_size: int | None = None,
    logit_bound: float | None = None,
    adjust: Adjust = NO_ADJUST,
    score: Callable[..., Tensor] | None = None,
) -> tuple[ContrastiveOutput, ContrastiveOutput]:
    """Both directions of a symmetric loss: queries against references with ``targets``, and
    references against queries with ``targets.T`` (and ``adjust.transpose()``). With one
    temperature both come from a single pass over the score blocks; ``logit_bound``, a
    bound on ``|l|`` known on the host (``1/tau`` of cosine logits), lets the two directions
    share one exponential per block (:attr:`~contrastor.engine.blocks.Layout.shift`).
    Top-k negatives are chosen per direction, so each direction is then its own pass."""
    if inverse_temperature.ndim == 0 and adjust.top_k is None:
        call = kernel_call(
            query,
            reference,
            inverse_temperature,
            targets,
            execution,
            tile_size,
            decoupled=decoupled,
            normalize=normalize,
            logit_bound=logit_bound,
            adjust=adjust,
            score=score,
        )
        stats = BlockSoftmax.apply(*call, True, *score_parameters(score))
        complete = call[3].defined
        return _assemble(*stats[:4], None, complete[0]), _assemble(*stats[4:], None, complete[1])
    run = {
        "decoupled": decoupled,
        "normalize": normalize,
        "execution": execution,
        "tile_size": tile_size,
    }
    forward = softmax_objective(
        query, reference, inverse_temperature, targets, adjust=adjust, score=score, **run
    )
    backward_score = None if score is None else TransposedScore(score)
    return forward, softmax_objective(
        reference,
        query,
        inverse_temperature,
        targets.transpose(),
        adjust=adjust.transpose(),
        score=backward_score,
        **run,
    )


def kernel_call(
    query: Tensor,
    reference: Tensor,
    inverse_temperature: Tensor,
    targets: Targets,
    execution: str,
    tile_size: int | None,
    *,
    self_offset: int | None = None,
    decoupled: bool = False,
    normalize: bool = False,
    logit_bound: float | None = None,
    adjust: Adjust = NO_ADJUST,
    score: Callable[..., Tensor] | None = None,
) -> tuple[Tensor, Tensor, Tensor, Layout]:
    """The first arguments of a block kernel (:mod:`contrastor.engine.blocks`): queries,
    references (a distinct view when both are one tensor, as ``torch.compile`` needs), 1/tau
    in the statistics' precision and the call's :class:`~contrastor.engine.blocks.Layout`."""
    n, m = query.shape[0], reference.shape[0]
    keep, tile = resolve_execution(execution, n, m, query.device, tile_size)
    if reference is query:
        reference = query.view_as(query)
    inv_t = inverse_temperature
    if inv_t.dtype != query.dtype:
        inv_t = inv_t.to(query.dtype)
    # one exponential for both directions needs a small bound and blocks that exclude no pair
    shareable = self_offset is None and not decoupled and not adjust.shifts_logits and score is None
    if score is not None and normalize:
        raise ValueError("a score function receives the raw rows: normalise inside it")
    bounded = logit_bound is not None and logit_bound <= SHIFT_UP_TO
    shift = logit_bound if shareable and bounded else None
    adjust.check_shape((n, m))
    layout = Layout(
        targets, self_offset, decoupled, tile, keep, normalize, (n, m), shift, adjust, score
    )
    return query, reference, inv_t, layout


def score_parameters(score: Callable[..., Tensor] | None) -> tuple[Tensor, ...]:
    """The trainable tensors of a score function (an ``nn.Module``'s parameters)."""
    if isinstance(score, torch.nn.Module):
        return tuple(p for p in score.parameters() if p.requires_grad)
    return ()


class TransposedScore(torch.nn.Module):
    """A score function seen from the references: ``s'(r, q, cols, rows) = s(q, r, rows,
    cols)^T``, sharing the original's parameters."""

    def __init__(self, score: Callable[..., Tensor]) -> None:
        super().__init__()
        self.inner = score

    def forward(self, r: Tensor, q: Tensor, cols: slice, rows: slice) -> Tensor:
        return self.inner(q, r, rows, cols).T


def _assemble(
    per_anchor: Tensor,
    positive: Tensor,
    negative: Tensor,
    mask: Tensor,
    positive_weight: Tensor | None,
    complete: bool,
) -> ContrastiveOutput:
    """The output of the kernel's per-anchor terms; ``positive_weight`` scales the positive
    term of each anchor (DCLW); ``complete``: every anchor is known to be defined."""
    if positive_weight is not None:
        positive = positive * positive_weight.to(positive.dtype)
        per_anchor = positive + negative
    terms = {"positive": positive, "negative": negative}
    return ContrastiveOutput(per_anchor=per_anchor, mask=mask, terms=terms, complete=complete)
