"""The softmax (InfoNCE) objective, dense path.

For queries ``q_i`` and references ``r_j`` (already prepared by the similarity), logits
``l_ij = s(q_i, r_j) / tau``, target weights ``P_ij >= 0`` and an excluded self pair:

    L_i = w_i * [ - sum_j Pn_ij l_ij ]  +  log sum_{j in D_i} exp(l_ij)
          '------ "positive" term ------'   '------ "negative" term -----'

where ``Pn_i = P_i / sum_j P_ij`` (multi-positive and soft targets are averaged, the SupCon
"out" form), ``D_i`` is every compared reference (``all``) or every compared non-positive
(``decoupled``, DCL), and ``w_i`` is an optional per-anchor positive weight (DCLW).
Anchors without positives do not contribute. One positive and ``w = 1`` is InfoNCE.
"""

from __future__ import annotations

import torch
from torch import Tensor

from contrastor.engine.output import ContrastiveOutput
from contrastor.engine.targets import Targets
from contrastor.engine.tiled import TiledSoftmax

EXECUTIONS = ("auto", "dense", "tiled")
#: ``auto`` switches to the tiled path from this many score-matrix entries (64 MiB in fp32)
TILED_FROM = 1 << 24
#: default tile edge of the tiled path on CPU (cache-sized blocks) and on accelerators
DEFAULT_TILE = {"cpu": 512, "cuda": 4096}


def default_tile(device: torch.device) -> int:
    """The tile edge used when none is given: the best measured for the device type."""
    return DEFAULT_TILE.get(device.type, DEFAULT_TILE["cuda"])


def use_tiled(execution: str, n: int, m: int) -> bool:
    """Whether ``execution`` (``auto``, ``dense`` or ``tiled``) means the tiled path here."""
    if execution not in EXECUTIONS:
        raise ValueError(f"execution must be one of {EXECUTIONS}, got {execution!r}")
    return execution == "tiled" or (execution == "auto" and n * m >= TILED_FROM)


def pair_mask(n: int, m: int, self_index: Tensor | None, device: torch.device) -> Tensor:
    """``(n, m)`` bool mask of compared pairs: everything but ``(i, self_index[i])``."""
    valid = torch.ones(n, m, dtype=torch.bool, device=device)
    if self_index is not None:
        valid[torch.arange(n, device=device), self_index] = False
    return valid


def softmax_objective(
    query: Tensor,
    reference: Tensor,
    inverse_temperature: Tensor,
    targets: Targets,
    *,
    self_index: Tensor | None = None,
    decoupled: bool = False,
    positive_weight: Tensor | None = None,
    execution: str = "auto",
    tile_size: int | None = None,
) -> ContrastiveOutput:
    """Per-anchor softmax contrastive loss (see the module docstring for the formula).

    Args:
        query: ``(n, d)`` prepared queries; reference: ``(m, d)`` prepared references.
        inverse_temperature: ``1/tau``, a scalar or one per query.
        targets: positive weights ``(n, m)``.
        self_index: ``(n,)`` index of each query in ``reference`` when both are one set
            (that pair is neither positive nor negative).
        decoupled: remove positives from the denominator (DCL).
        positive_weight: ``(n,)`` multiplier of the positive term (DCLW).
        execution: ``dense`` materialises the ``(n, m)`` scores; ``tiled`` streams them in
            ``tile_size`` blocks (exact, memory linear in n + m); ``auto`` picks by size.
    """
    n, m = query.shape[0], reference.shape[0]
    if use_tiled(execution, n, m):
        tile = tile_size or default_tile(query.device)
        negative, positive, count = TiledSoftmax.apply(
            query, reference, inverse_temperature, targets, self_index, decoupled, _tile(tile)
        )
        return _assemble(negative, -positive, count, positive_weight)
    inv_t = inverse_temperature.reshape(-1, 1) if inverse_temperature.ndim else inverse_temperature
    logits = (query @ reference.T) * inv_t
    valid = pair_mask(n, m, self_index, query.device)
    weights = targets.dense().to(device=logits.device, dtype=logits.dtype) * valid
    count = weights.sum(1)
    denominator = valid & (weights <= 0) if decoupled else valid
    has = count > 0
    negative = torch.full((n,), float("-inf"), dtype=logits.dtype, device=logits.device)
    rows = logits[has].masked_fill(~denominator[has], float("-inf"))
    negative = negative.masked_scatter(has, torch.logsumexp(rows, dim=1))
    normalised = weights / count.clamp_min(torch.finfo(logits.dtype).tiny).unsqueeze(1)
    positive = -(normalised * logits.masked_fill(~valid, 0.0)).sum(1)
    return _assemble(negative, positive, count, positive_weight)


def symmetric_softmax_objective(
    query: Tensor,
    reference: Tensor,
    inverse_temperature: Tensor,
    targets: Targets,
    *,
    decoupled: bool = False,
    execution: str = "auto",
    tile_size: int | None = None,
) -> tuple[ContrastiveOutput, ContrastiveOutput]:
    """Both directions of a symmetric loss: queries against references with ``targets``, and
    references against queries with ``targets.T``. On the tiled path with one temperature,
    both come from a single pass over the score blocks."""
    n, m = query.shape[0], reference.shape[0]
    if use_tiled(execution, n, m) and inverse_temperature.ndim == 0:
        stats = TiledSoftmax.apply(
            query,
            reference,
            inverse_temperature,
            targets,
            None,
            decoupled,
            _tile(tile_size or default_tile(query.device)),
            True,
        )
        forward = _assemble(stats[0], -stats[1], stats[2], None)
        return forward, _assemble(stats[3], -stats[4], stats[5], None)
    run = {"decoupled": decoupled, "execution": execution, "tile_size": tile_size}
    forward = softmax_objective(query, reference, inverse_temperature, targets, **run)
    return forward, softmax_objective(
        reference, query, inverse_temperature, targets.transpose(), **run
    )


def _tile(tile: int) -> int:
    if tile < 1:
        raise ValueError(f"tile_size must be positive, got {tile}")
    return tile


def _assemble(
    negative: Tensor, positive: Tensor, count: Tensor, positive_weight: Tensor | None
) -> ContrastiveOutput:
    """Per-anchor output from the log-sum-exp term, the (negated) mean positive logit and the
    target mass of every anchor; checks that the batch defines the loss."""
    mask = count > 0
    if not bool(mask.any()):
        raise ValueError("no anchor has a positive in this batch: the loss is undefined")
    if bool((mask & torch.isneginf(negative)).any()):
        raise ValueError(
            "an anchor has no negatives to contrast with (batch too small for this loss)"
        )
    if positive_weight is not None:
        positive = positive * positive_weight.to(positive.dtype)
    zero = torch.zeros_like(positive)
    positive = torch.where(mask, positive, zero)
    negative = torch.where(mask, negative, zero)
    return ContrastiveOutput(
        per_anchor=positive + negative,
        mask=mask,
        terms={"positive": positive, "negative": negative},
    )
