"""Pairwise preference losses on log-probabilities (DPO), robust to flipped preferences."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from contrastor.engine.output import ContrastiveOutput
from contrastor.engine.precision import full_precision
from contrastor.functional._common import finish

__all__ = ["robust_dpo"]


@full_precision
def robust_dpo(
    chosen_logps: Tensor,
    rejected_logps: Tensor,
    reference_chosen_logps: Tensor,
    reference_rejected_logps: Tensor,
    *,
    beta: float = 0.1,
    flip_rate: float = 0.0,
    weights: Tensor | None = None,
    reduction: str = "mean",
    return_output: bool = False,
) -> Tensor | ContrastiveOutput:
    """DPO corrected for preferences flipped at random with a known rate ``eps < 1/2``:

        h   = beta [ (log pi(y_w) - log pi_ref(y_w)) - (log pi(y_l) - log pi_ref(y_l)) ]
        L   = [ (1 - eps) l(h) - eps l(-h) ] / (1 - 2 eps),   l(h) = -log sigmoid(h)

    whose expectation over the flips equals the DPO loss of the true preferences (plain DPO
    at ``eps = 0``). Chowdhury et al., "Provably Robust DPO: Aligning Language Models with
    Noisy Feedback", ICML 2024. Inputs: ``(n,)`` summed log-probabilities of the chosen and
    rejected answers under the policy and the frozen reference. Per-pair output ``(n,)``.
    """
    shapes = {
        tuple(x.shape)
        for x in (chosen_logps, rejected_logps, reference_chosen_logps, reference_rejected_logps)
    }
    if len(shapes) != 1 or chosen_logps.ndim != 1 or chosen_logps.numel() == 0:
        raise ValueError("the four log-probability tensors must be non-empty and (n,) alike")
    if not 0.0 <= flip_rate < 0.5:
        raise ValueError(f"flip_rate must be in [0, 0.5), got {flip_rate}")
    if not beta > 0:
        raise ValueError(f"beta must be positive, got {beta}")
    margin = (chosen_logps - reference_chosen_logps) - (rejected_logps - reference_rejected_logps)
    h = beta * margin.to(torch.promote_types(margin.dtype, torch.float32))
    per_pair = ((1 - flip_rate) * F.softplus(-h) - flip_rate * F.softplus(h)) / (1 - 2 * flip_rate)
    mask = torch.ones_like(per_pair, dtype=torch.bool)
    return finish(
        ContrastiveOutput(per_pair, mask, {"margin": h.detach()}), reduction, weights, return_output
    )
