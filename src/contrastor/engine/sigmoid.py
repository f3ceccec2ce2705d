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
from contrastor.engine.softmax import default_tile, pair_mask, use_tiled
from contrastor.engine.targets import Targets
from contrastor.engine.tiled import TiledSigmoid


def sigmoid_objective(
    query: Tensor,
    reference: Tensor,
    inverse_temperature: Tensor,
    bias: Tensor,
    targets: Targets,
    *,
    self_index: Tensor | None = None,
    execution: str = "auto",
    tile_size: int | None = None,
) -> ContrastiveOutput:
    """Per-anchor pairwise sigmoid loss summed over references (formula in the module doc).

    ``execution``/``tile_size`` choose the dense or the tiled (exact, streamed) path, as in
    :func:`~contrastor.engine.softmax.softmax_objective`.
    """
    n, m = query.shape[0], reference.shape[0]
    if use_tiled(execution, n, m):
        positive, negative, count = TiledSigmoid.apply(
            query,
            reference,
            inverse_temperature,
            bias.to(query.dtype),
            targets,
            self_index,
            tile_size or default_tile(query.device),
        )
        return _output(positive, negative, count)
    inv_t = inverse_temperature.reshape(-1, 1) if inverse_temperature.ndim else inverse_temperature
    logits = (query @ reference.T) * inv_t + bias.to(query.dtype)
    valid = pair_mask(n, m, self_index, query.device)
    labels = targets.dense().to(device=logits.device, dtype=logits.dtype).clamp(0.0, 1.0)
    zero = torch.zeros_like(logits)
    positive = torch.where(valid, -labels * F.logsigmoid(logits), zero).sum(1)
    negative = torch.where(valid, -(1.0 - labels) * F.logsigmoid(-logits), zero).sum(1)
    return _output(positive, negative, torch.where(valid, labels, zero).sum(1))


def _output(positive: Tensor, negative: Tensor, count: Tensor) -> ContrastiveOutput:
    if not bool(count.sum() > 0):
        raise ValueError("no anchor has a positive in this batch: the loss is undefined")
    return ContrastiveOutput(
        per_anchor=positive + negative,
        mask=torch.ones_like(positive, dtype=torch.bool),
        terms={"positive": positive, "negative": negative},
    )
