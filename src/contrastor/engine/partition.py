"""Log-partition terms ``log sum_j exp(s_ij / tau)`` over chosen references, on the dense or
the tiled path: the building block of losses whose positive part is not a plain mean of
positive logits (multi-view, debiased, global/compositional estimators)."""

from __future__ import annotations

from torch import Tensor

from contrastor.engine.softmax import softmax_objective
from contrastor.engine.targets import Targets, UniformTargets


def log_partition(
    query: Tensor,
    reference: Tensor,
    inverse_temperature: Tensor,
    *,
    self_offset: int | None = None,
    exclude: Targets | None = None,
    execution: str = "auto",
    tile_size: int | None = None,
) -> Tensor:
    """``(n,)`` values ``log sum_{j in D_i} exp(q_i . r_j / tau)``.

    ``D_i`` is every reference but ``self_offset + i``, and without the positives of ``exclude``
    when given (each query must have at least one there). Differentiable in the embeddings
    and the temperature on both paths; the tiled path never holds the ``(n, m)`` scores.
    """
    n, m = query.shape[0], reference.shape[0]
    targets = exclude if exclude is not None else UniformTargets(n, m, query.device)
    output = softmax_objective(
        query,
        reference,
        inverse_temperature,
        targets,
        self_offset=self_offset,
        decoupled=exclude is not None,
        execution=execution,
        tile_size=tile_size,
    )
    return output.terms["negative"]
