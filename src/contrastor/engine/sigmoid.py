"""The pairwise sigmoid objective (SigLIP), dense path.

Every compared pair is an independent binary decision with logit ``l_ij = s_ij / tau + b``
and label ``y_ij`` in [0, 1] (the target weight, clipped):

    L_i = sum_j [ - y_ij log sigma(l_ij)  -  (1 - y_ij) log sigma(-l_ij) ]
                '----- "positive" -----'   '------- "negative" --------'

Zhai et al., "Sigmoid Loss for Language Image Pre-Training", ICCV 2023.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from contrastor.engine.output import ContrastiveOutput
from contrastor.engine.softmax import pair_mask
from contrastor.engine.targets import Targets


def sigmoid_objective(
    query: Tensor,
    reference: Tensor,
    inverse_temperature: Tensor,
    bias: Tensor,
    targets: Targets,
    *,
    self_index: Tensor | None = None,
) -> ContrastiveOutput:
    """Per-anchor pairwise sigmoid loss summed over references (formula in the module doc)."""
    n, m = query.shape[0], reference.shape[0]
    inv_t = inverse_temperature.reshape(-1, 1) if inverse_temperature.ndim else inverse_temperature
    logits = (query @ reference.T) * inv_t + bias.to(query.dtype)
    valid = pair_mask(n, m, self_index, query.device)
    labels = targets.dense().to(device=logits.device, dtype=logits.dtype).clamp(0.0, 1.0)
    if not bool((labels * valid).sum() > 0):
        raise ValueError("no anchor has a positive in this batch: the loss is undefined")
    zero = torch.zeros_like(logits)
    positive = torch.where(valid, -labels * F.logsigmoid(logits), zero).sum(1)
    negative = torch.where(valid, -(1.0 - labels) * F.logsigmoid(-logits), zero).sum(1)
    mask = valid.any(1)
    return ContrastiveOutput(
        per_anchor=positive + negative,
        mask=mask,
        terms={"positive": positive, "negative": negative},
    )
