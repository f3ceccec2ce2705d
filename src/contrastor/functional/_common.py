"""Steps every functional loss shares: input checks and the final reduction."""

from __future__ import annotations

from torch import Tensor

from contrastor._validation import check_embeddings, check_same_dim
from contrastor.engine.output import ContrastiveOutput, check_reduction, reduce


def check_pair(query: Tensor, reference: Tensor) -> None:
    """Validate a (query, reference) pair of embedding matrices."""
    check_embeddings(query, "query")
    check_embeddings(reference, "reference")
    check_same_dim(query, reference, ("query", "reference"))


def finish(
    output: ContrastiveOutput,
    reduction: str,
    weights: Tensor | None,
    return_output: bool,
) -> Tensor | ContrastiveOutput:
    """Reduce per-anchor losses; return the loss, or the whole output when asked."""
    check_reduction(reduction)
    output.loss = reduce(output.per_anchor, output.mask, reduction, weights)
    return output if return_output else output.loss
