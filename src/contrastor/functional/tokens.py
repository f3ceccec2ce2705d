"""Token-level contrast inside sequences (SimCTG): keep a language model's token
representations apart so that its space stays isotropic."""

from __future__ import annotations

import torch
from torch import Tensor

from contrastor._validation import check_embeddings
from contrastor.engine.output import ContrastiveOutput
from contrastor.engine.precision import full_precision
from contrastor.engine.similarity import compute_dtype, unit_rows
from contrastor.functional._common import finish

__all__ = ["token_contrastive"]


@full_precision
def token_contrastive(
    hidden: Tensor,
    mask: Tensor | None = None,
    *,
    margin: float = 0.5,
    weights: Tensor | None = None,
    reduction: str = "mean",
    return_output: bool = False,
) -> Tensor | ContrastiveOutput:
    """SimCTG's contrastive objective over the tokens of each sequence:

        L_b = 1/|P_b| sum_{(i, j) in P_b} max(0, rho - s(h_i, h_i) + s(h_i, h_j))

    over the ordered pairs ``i != j`` of real tokens of sequence ``b`` (cosine ``s``, so
    ``s(h_i, h_i) = 1``), added to the language-modelling loss. ``mean`` and ``sum``
    weight each sequence by its pair count, so the mean is over every pair of the batch as
    in the authors' code; ``none`` gives the per-sequence values. Su et al., "A Contrastive
    Framework for Neural Text Generation", NeurIPS 2022 (rho 0.5).

    Args:
        hidden: ``(batch, T, d)`` token representations (last hidden states).
        mask: ``(batch, T)`` bool, real tokens (default: all).
    """
    check_embeddings(hidden, "hidden", ndim=3)
    b, t, _ = hidden.shape
    keep = torch.ones(b, t, dtype=torch.bool, device=hidden.device) if mask is None else mask
    if keep.shape != (b, t):
        raise ValueError(f"mask must have shape ({b}, {t}), got {tuple(keep.shape)}")
    keep = keep.to(device=hidden.device, dtype=torch.bool)
    h = unit_rows(hidden.to(compute_dtype(hidden.dtype)).reshape(b * t, -1)).reshape(b, t, -1)
    scores = h @ h.transpose(1, 2)  # (b, T, T)
    gold = scores.diagonal(dim1=1, dim2=2).unsqueeze(-1)
    pairs = keep[:, :, None] & keep[:, None, :] & ~torch.eye(t, dtype=torch.bool, device=h.device)
    hinge = torch.relu(margin - gold + scores) * pairs
    count = pairs.sum((1, 2)).to(h.dtype)
    defined = count > 0
    if not bool(defined.any()):
        raise ValueError("token contrast needs a sequence with at least two real tokens")
    per_sequence = hinge.sum((1, 2)) / count.clamp_min(1.0)
    output = ContrastiveOutput(per_sequence, defined, {"negative": per_sequence})
    if reduction != "none":  # every pair of the batch counts once
        weights = count if weights is None else count * weights.to(count.dtype)
    return finish(output, reduction, weights, return_output)
