"""Contrast along time: TS2Vec's hierarchical loss over per-timestamp representations."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from contrastor._validation import check_embeddings, check_same_dim
from contrastor.engine.output import ContrastiveOutput
from contrastor.engine.precision import full_precision
from contrastor.engine.similarity import prepare
from contrastor.engine.temperature import inverse_temperature
from contrastor.functional._common import finish

__all__ = ["hierarchical_contrastive"]


@full_precision
def hierarchical_contrastive(
    first: Tensor,
    second: Tensor,
    *,
    temperature: float | Tensor = 1.0,
    alpha: float = 0.5,
    temporal_unit: int = 0,
    similarity: str = "dot",
    weights: Tensor | None = None,
    reduction: str = "mean",
    return_output: bool = False,
) -> Tensor | ContrastiveOutput:
    """TS2Vec's hierarchical contrastive loss between two views' representations of the same
    timestamps (e.g. the overlap of two random crops), ``(n, T, d)`` each.

    At each level the views ``r, r'`` are contrasted two ways, each a symmetric NT-Xent whose
    anchor's positive is its twin in the other view:

        instance, per timestamp t: among the 2n vectors r_{.,t}, r'_{.,t} (other series' are
            the negatives);
        temporal, per series i: among the 2T vectors r_{i,.}, r'_{i,.} (other timestamps of
            the same series are the negatives);

    then both views are max-pooled along time by 2 (an odd last step dropped) and the next
    level is contrasted, down to one timestamp. Series i's loss is
    ``mean over levels of [alpha * inst_i + (1 - alpha) * temp_i]`` (each the mean over its
    timestamps and both directions); ``temporal_unit`` skips the temporal term below that
    level; ``temperature`` is one scalar. TS2Vec scores with the dot product and no
    temperature (``similarity="dot"``, ``temperature=1``).

    Yue et al., "TS2Vec: Towards Universal Representation of Time Series", AAAI 2022.
    DDP: each rank contrasts its own series (no gathering).

    Example:
        >>> r1, r2 = encoder(crop_1)[:, -overlap:], encoder(crop_2)[:, :overlap]
        >>> loss = hierarchical_contrastive(r1, r2)
    """
    check_embeddings(first, "first", ndim=3)
    check_embeddings(second, "second", ndim=3)
    check_same_dim(first, second, ("first", "second"))
    if first.shape[:2] != second.shape[:2]:
        raise ValueError(
            "the views must have the same series and timestamps, got shapes "
            f"{tuple(first.shape)} and {tuple(second.shape)}"
        )
    if not 0.0 <= alpha <= 1.0 or temporal_unit < 0:
        raise ValueError(
            f"alpha must be in [0, 1] and temporal_unit >= 0, got {alpha}, {temporal_unit}"
        )
    a, b = prepare(first, "dot"), prepare(second, "dot")
    inv_t = inverse_temperature(temperature, a)
    if inv_t.ndim:
        raise ValueError("the hierarchical loss takes one temperature (a scalar)")
    instance, temporal, levels = a.new_zeros(a.shape[0]), a.new_zeros(a.shape[0]), 0
    while True:
        ua, ub = prepare(a, similarity), prepare(b, similarity)
        instance = instance + _twin_nt_xent(ua.transpose(0, 1), ub.transpose(0, 1), inv_t).mean(0)
        if levels >= temporal_unit:
            temporal = temporal + _twin_nt_xent(ua, ub, inv_t).mean(1)
        levels += 1
        if a.shape[1] == 1:
            break
        a, b = (F.max_pool1d(x.transpose(1, 2), 2).transpose(1, 2) for x in (a, b))
    instance, temporal = instance / levels, temporal / levels
    per_sample = alpha * instance + (1.0 - alpha) * temporal
    output = ContrastiveOutput(
        per_sample,
        torch.ones_like(per_sample, dtype=torch.bool),
        {"instance": instance, "temporal": temporal},
    )
    return finish(output, reduction, weights, return_output)


def _twin_nt_xent(a: Tensor, b: Tensor, inv_t: Tensor) -> Tensor:
    """For each group g of ``a, b`` ``(G, k, d)``: NT-Xent among the 2k vectors of the group,
    each anchor's positive its twin in the other view, itself left out; returns ``(G, k)``,
    the mean of the two directions per twin pair."""
    k = a.shape[1]
    z = torch.cat([a, b], 1)
    logits = (z @ z.transpose(1, 2)) * inv_t
    logits = logits.masked_fill(torch.eye(2 * k, dtype=torch.bool, device=z.device), float("-inf"))
    log_p = torch.log_softmax(logits, dim=-1)
    i = torch.arange(k, device=z.device)
    return -(log_p[:, i, k + i] + log_p[:, k + i, i]) / 2
