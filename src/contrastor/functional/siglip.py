"""SigLIP: pairwise sigmoid loss."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from contrastor._validation import all_finite, require
from contrastor.engine.output import ContrastiveOutput
from contrastor.engine.precision import full_precision
from contrastor.engine.sigmoid import sigmoid_objective
from contrastor.engine.targets import Targets
from contrastor.functional._common import finish, prepare_pair
from contrastor.scale.distributed import Exchange

__all__ = ["siglip"]


@full_precision
def siglip(
    query: Tensor,
    reference: Tensor,
    *,
    temperature: float | Tensor = 0.1,
    bias: float | Tensor = -10.0,
    labels: Tensor | None = None,
    reference_labels: Tensor | None = None,
    targets: Tensor | Targets | None = None,
    similarity: str = "cosine",
    weights: Tensor | None = None,
    reduction: str = "mean",
    return_output: bool = False,
    execution: str = "auto",
    tile_size: int | None = None,
    exchange: Exchange | None = None,
) -> Tensor | ContrastiveOutput:
    """Pairwise sigmoid loss: every (i, j) is a binary "do these match?" decision.

        L_i = -sum_j log sigma( y_ij * (s_ij / tau + b) ),   y_ij = +1 positive, -1 otherwise

    (soft targets in [0, 1] give the matching binary cross-entropy). ``mean`` averages
    ``L_i`` over anchors, as the paper's ``1/|B| sum_i sum_j``. Default positives: index
    alignment; ``labels``/``targets`` as in :func:`info_nce`. The paper initialises
    ``1/tau = 10`` and ``b = -10``.

    Zhai et al., "Sigmoid Loss for Language Image Pre-Training", ICCV 2023. DDP: local
    queries against gathered references (the paper's chunked exchange gives the same sum).

    Example:
        >>> img, txt = torch.randn(16, 64), torch.randn(16, 64)
        >>> loss = siglip(img, txt, temperature=0.1, bias=-10.0)
    """
    batch = prepare_pair(
        query,
        reference,
        temperature=temperature,
        similarity=similarity,
        labels=labels,
        reference_labels=reference_labels,
        targets=targets,
        exchange=exchange,
        fold=True,
    )
    if isinstance(bias, Tensor):
        b = bias
        require((all_finite(b), "bias must be finite"))
    elif math.isfinite(bias):
        b = torch.tensor(float(bias), device=batch.query.device)
    else:
        raise ValueError("bias must be finite")
    output = sigmoid_objective(
        batch.query,
        batch.everyone,
        batch.inverse_temperature,
        b,
        batch.targets,
        normalize=batch.normalize,
        execution=execution,
        tile_size=tile_size,
    )
    return finish(output, reduction, weights, return_output, batch.exchange)
