"""The pairwise sigmoid objective (SigLIP).

Every compared pair is an independent binary decision with logit ``l_ij = s_ij / tau + b``
and label ``y_ij`` in [0, 1] (the target weight, clipped):

    L_i = sum_j [ - y_ij log sigma(l_ij)  -  (1 - y_ij) log sigma(-l_ij) ]
                '----- "positive" -----'   '------- "negative" --------'

Runs on the block kernel of :mod:`contrastor.engine.blocks` (dense: logits kept; tiled:
recomputed), as :func:`~contrastor.engine.softmax.softmax_objective`.

Zhai et al., "Sigmoid Loss for Language Image Pre-Training", ICCV 2023.
"""

from __future__ import annotations

import torch
from torch import Tensor

from contrastor._validation import require
from contrastor.engine.blocks import BlockSigmoid
from contrastor.engine.output import ContrastiveOutput
from contrastor.engine.softmax import kernel_call
from contrastor.engine.targets import Targets


def sigmoid_objective(
    query: Tensor,
    reference: Tensor,
    inverse_temperature: Tensor,
    bias: Tensor,
    targets: Targets,
    *,
    self_offset: int | None = None,
    normalize: bool = False,
    execution: str = "auto",
    tile_size: int | None = None,
) -> ContrastiveOutput:
    """Per-anchor pairwise sigmoid loss summed over references (formula in the module doc).

    ``normalize``/``execution``/``tile_size`` as in
    :func:`~contrastor.engine.softmax.softmax_objective`.
    """
    q, r, inv_t, layout = kernel_call(
        query,
        reference,
        inverse_temperature,
        targets,
        execution,
        tile_size,
        self_offset=self_offset,
        normalize=normalize,
    )
    b = bias.to(device=query.device, dtype=query.dtype)
    positive, negative, count = BlockSigmoid.apply(q, r, inv_t, b, layout)
    if not layout.defined[0]:
        require((count.sum() > 0, "no anchor has a positive in this batch: the loss is undefined"))
    return ContrastiveOutput(
        per_anchor=positive + negative,
        mask=torch.ones_like(positive, dtype=torch.bool),
        terms={"positive": positive, "negative": negative},
        complete=True,
    )
