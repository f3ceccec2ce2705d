"""Per-anchor output and reduction.

Every objective yields one loss value per anchor (query), a mask of the anchors that
contribute (those with at least one positive) and named per-anchor terms. Noise detection,
re-weighting and logging read these; no loss has to change for them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch
from torch import Tensor

from contrastor._validation import check_weights, require

REDUCTIONS = ("mean", "sum", "none")


@dataclass
class ContrastiveOutput:
    """What an objective computed.

    Attributes:
        per_anchor: loss of each anchor (0 where ``mask`` is False).
        mask: True for anchors that contribute (have a positive).
        terms: named per-anchor parts, e.g. ``positive`` and ``negative`` for softmax losses.
        loss: the reduced loss (as the caller's ``reduction`` asked).
        complete: every anchor is known to contribute (``mask`` all True) without reading it.
    """

    per_anchor: Tensor
    mask: Tensor
    terms: dict[str, Tensor] = field(default_factory=dict)
    loss: Tensor | None = None
    complete: bool = False

    def map(self, fn: Callable[[Tensor], Tensor]) -> ContrastiveOutput:
        """The same output with ``fn`` applied to every per-anchor tensor (e.g. a reshape)."""
        terms = {k: fn(v) for k, v in self.terms.items()}
        return ContrastiveOutput(
            fn(self.per_anchor), fn(self.mask), terms, self.loss, self.complete
        )


def average_directions(first: ContrastiveOutput, second: ContrastiveOutput) -> ContrastiveOutput:
    """``0.5 * (first + second)`` of two reduced outputs over the same anchors, the two
    directions of a symmetric loss: losses, per-anchor values and shared terms averaged, masks
    joined; each direction's per-anchor loss kept as the terms ``query_to_reference`` and
    ``reference_to_query``."""
    terms = {k: 0.5 * (v + second.terms[k]) for k, v in first.terms.items() if k in second.terms}
    terms["query_to_reference"] = first.per_anchor
    terms["reference_to_query"] = second.per_anchor
    return ContrastiveOutput(
        per_anchor=0.5 * (first.per_anchor + second.per_anchor),
        mask=first.mask | second.mask,
        terms=terms,
        loss=0.5 * (first.loss + second.loss),
        complete=first.complete and second.complete,
    )


def weighted_sum(
    outputs: Sequence[ContrastiveOutput], weights: Sequence[float] | None = None
) -> ContrastiveOutput:
    """``sum_k w_k o_k`` of unreduced outputs over the same anchors (default: their mean):
    per-anchor values and the terms all of them have; an anchor contributes where any
    output has it."""
    w = [1.0 / len(outputs)] * len(outputs) if weights is None else list(weights)
    if len(w) != len(outputs) or not outputs:
        raise ValueError("give one weight per output, and at least one output")
    shared = set.intersection(*(set(o.terms) for o in outputs))
    return ContrastiveOutput(
        per_anchor=sum(wk * o.per_anchor for wk, o in zip(w, outputs, strict=True)),
        mask=torch.stack([o.mask for o in outputs]).any(0),
        terms={k: sum(wk * o.terms[k] for wk, o in zip(w, outputs, strict=True)) for k in shared},
    )


def symmetric_result(
    first: ContrastiveOutput, second: ContrastiveOutput, return_output: bool
) -> Tensor | ContrastiveOutput:
    """The two reduced directions of a symmetric loss as a loss call returns them: the
    averaged loss, or with ``return_output`` the :func:`average_directions` output."""
    if return_output:
        return average_directions(first, second)
    return 0.5 * (first.loss + second.loss)


def check_reduction(reduction: str) -> str:
    if reduction not in REDUCTIONS:
        raise ValueError(f"reduction must be one of {REDUCTIONS}, got {reduction!r}")
    return reduction


def reduce(
    per_anchor: Tensor,
    mask: Tensor,
    reduction: str = "mean",
    weights: Tensor | None = None,
    complete: bool = False,
) -> Tensor:
    """Reduce per-anchor losses over contributing anchors.

    ``mean``: sum_i m_i w_i L_i / sum_i m_i w_i;  ``sum``: sum_i m_i w_i L_i;  ``none``:
    the per-anchor tensor (times w). ``weights`` (one per anchor, >= 0) defaults to 1;
    ``complete``: the mask is known to be all True.
    """
    check_reduction(reduction)
    if weights is None and complete and reduction == "mean":
        return per_anchor.mean()
    if weights is None:
        w, weighted = mask, per_anchor  # 0 where the mask is False
    else:
        check_weights(weights.reshape(-1), per_anchor.numel())
        w = mask.to(per_anchor.dtype) * weights.reshape(per_anchor.shape).to(per_anchor.dtype)
        weighted = torch.where(w > 0, per_anchor * w, 0.0)
    if reduction == "none":
        return weighted
    if reduction == "sum":
        return weighted.sum()
    total = w.sum()
    require((total > 0, "all anchors have zero weight: the weighted mean is undefined"))
    return weighted.sum() / total
