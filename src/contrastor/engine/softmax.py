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
    """
    n, m = query.shape[0], reference.shape[0]
    inv_t = inverse_temperature.reshape(-1, 1) if inverse_temperature.ndim else inverse_temperature
    logits = (query @ reference.T) * inv_t
    valid = pair_mask(n, m, self_index, query.device)
    weights = targets.dense().to(device=logits.device, dtype=logits.dtype) * valid
    count = weights.sum(1)
    mask = count > 0
    if not bool(mask.any()):
        raise ValueError("no anchor has a positive in this batch: the loss is undefined")
    denominator = valid & (weights <= 0) if decoupled else valid
    if bool((mask & ~denominator.any(1)).any()):
        raise ValueError(
            "an anchor has no negatives to contrast with (batch too small for this loss)"
        )
    negative = torch.zeros(n, dtype=logits.dtype, device=logits.device)
    rows = logits[mask].masked_fill(~denominator[mask], float("-inf"))
    negative = negative.masked_scatter(mask, torch.logsumexp(rows, dim=1))
    normalised = weights / count.clamp_min(torch.finfo(logits.dtype).tiny).unsqueeze(1)
    positive = -(normalised * logits.masked_fill(~valid, 0.0)).sum(1)
    if positive_weight is not None:
        positive = positive * positive_weight.to(positive.dtype)
    zero = torch.zeros_like(positive)
    positive = torch.where(mask, positive, zero)
    return ContrastiveOutput(
        per_anchor=positive + negative,
        mask=mask,
        terms={"positive": positive, "negative": negative},
    )
