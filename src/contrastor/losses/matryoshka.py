"""Matryoshka representation learning: one loss applied to several leading dimensions."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from contrastor.engine.output import ContrastiveOutput

__all__ = ["Matryoshka", "truncate"]


def truncate(x: Tensor, dim: int) -> Tensor:
    """The leading ``dim`` features of every row (a Matryoshka prefix)."""
    if not 1 <= dim <= x.shape[-1]:
        raise ValueError(f"dim must be in [1, {x.shape[-1]}], got {dim}")
    return x[..., :dim]


class Matryoshka(nn.Module):
    """``L = sum_k w_k * loss(x[..., :d_k], ...)``: any loss at several leading dimensions.

    Every embedding input is cut to each of ``dims`` and the inner loss is evaluated on the
    prefixes, so one encoder pass trains nested embeddings whose first ``d_k`` features are
    usable on their own (cosine losses re-normalise each prefix). Kusupati et al.,
    "Matryoshka Representation Learning", NeurIPS 2022.

    Embedding inputs are the positional tensors (and lists or tuples of tensors, for view
    losses) that are floating point, at least 2-D and as wide as the widest of ``dims``, and
    the keyword ``anchor_negatives``; labels, targets and weights pass unchanged (give
    ``positions`` to name the embedding arguments explicitly). It composes with what the
    inner loss does: the tiled path, ``gather_distributed`` (each dimension gathers its
    prefix) and :class:`~contrastor.scale.CachedEncoder` (the embeddings' gradient is the
    weighted sum over dimensions). ``last_losses`` holds the latest value per dimension
    (detached tensors: reading them is the caller's host sync, not every step's).

    ``temperatures`` gives each dimension its own ``temperature=`` for the inner loss
    (narrow prefixes spread their cosines wider: a random pair's cosine has standard
    deviation about ``1/sqrt(d)``), replacing the one the call passes.

    ``self_distill`` > 0 adds, for every narrower dimension, the KL divergence from the full
    width's in-batch retrieval distribution (the first two embedding inputs, query against
    reference, ``softmax(cos / distill_temperature)``, held fixed) to the prefix's, times the
    dimension's weight: the prefixes learn to rank as the full embedding does, not only to
    find the positive (dense: one ``n x m`` score matrix per dimension).

    Args:
        loss: a loss module or function of embeddings.
        dims: the dimensions, e.g. ``(384, 128, 64, 32)``.
        weights: one per dimension (default all 1, as in the paper).
        positions: indices of the positional arguments that are embeddings.
        self_distill: weight of the full-to-prefix distillation (0: off).
        distill_temperature: temperature of the distilled distributions.
        temperatures: one inner-loss temperature per dimension (default: the call's).

    Example:
        >>> loss_fn = Matryoshka(InfoNCE(0.05), dims=(384, 128, 64, 32))
        >>> loss = loss_fn(query_emb, doc_emb)      # (n, 384) each
    """

    def __init__(
        self,
        loss: nn.Module | Callable[..., Tensor],
        dims: Sequence[int],
        weights: Sequence[float] | None = None,
        *,
        positions: Sequence[int] | None = None,
        self_distill: float = 0.0,
        distill_temperature: float = 0.05,
        temperatures: Sequence[float] | None = None,
    ) -> None:
        super().__init__()
        dims = [int(d) for d in dims]
        if not dims or min(dims) < 1 or len(set(dims)) != len(dims):
            raise ValueError(f"dims must be distinct positive integers, got {dims}")
        weights = [1.0] * len(dims) if weights is None else [float(w) for w in weights]
        if len(weights) != len(dims) or min(weights) < 0 or sum(weights) <= 0:
            raise ValueError("give one non-negative weight per dimension, not all zero")
        if self_distill < 0 or distill_temperature <= 0:
            raise ValueError("self_distill must be >= 0 and distill_temperature > 0")
        if temperatures is not None:
            temperatures = [float(t) for t in temperatures]
            if len(temperatures) != len(dims) or min(temperatures) <= 0:
                raise ValueError("give one positive temperature per dimension")
        self.loss, self.dims, self.weights = loss, dims, weights
        self.temperatures = temperatures
        self.self_distill, self.distill_temperature = (
            float(self_distill),
            float(distill_temperature),
        )
        self.positions = None if positions is None else set(positions)
        self.last_losses: dict[int, Tensor] = {}

    def forward(self, *inputs: Any, **keywords: Any) -> Tensor | ContrastiveOutput:
        """The weighted sum of the inner loss at every dimension; with
        ``return_output=True`` an output whose per-anchor values and loss are those sums
        (anchors count where every dimension defines them)."""
        width = max(self.dims)
        embedded = [self._is_embedding(i, x, width) for i, x in enumerate(inputs)]
        if not any(embedded):
            raise ValueError(f"no embedding input is {width} wide (the largest of dims)")
        parts = []
        temperatures = self.temperatures or [None] * len(self.dims)
        for dim, weight, temperature in zip(self.dims, self.weights, temperatures, strict=True):
            cut = [
                _cut(x, dim) if is_embedding else x
                for x, is_embedding in zip(inputs, embedded, strict=True)
            ]
            options = dict(keywords)
            if isinstance(options.get("anchor_negatives"), Tensor):
                options["anchor_negatives"] = truncate(options["anchor_negatives"], dim)
            if temperature is not None:
                options["temperature"] = temperature
            value = self.loss(*cut, **options)
            loss = value.loss if isinstance(value, ContrastiveOutput) else value
            self.last_losses[dim] = loss.detach().mean()
            parts.append((weight, value))
        distilled = self._distillation(inputs, embedded, width)
        if not keywords.get("return_output"):
            return sum(w * value for w, value in parts) + distilled
        mask = torch.stack([value.mask for _, value in parts]).all(0)
        return ContrastiveOutput(
            per_anchor=sum(w * value.per_anchor for w, value in parts),
            mask=mask,
            loss=sum(w * value.loss for w, value in parts) + distilled,
        )

    def _distillation(self, inputs: tuple, embedded: list[bool], width: int) -> Tensor | float:
        """``self_distill * sum_k w_k KL(p_full || p_{d_k})`` over the narrower dimensions."""
        if not self.self_distill:
            return 0.0
        pair = [x for x, e in zip(inputs, embedded, strict=True) if e and isinstance(x, Tensor)]
        if len(pair) < 2 or pair[0].ndim != 2 or pair[1].ndim != 2:
            raise ValueError("self_distill needs two (n, d) embedding inputs (query, reference)")
        q, r = pair[0], pair[1]

        def log_p(dim: int) -> Tensor:
            a = torch.nn.functional.normalize(truncate(q, dim).float(), dim=1)
            b = torch.nn.functional.normalize(truncate(r, dim).float(), dim=1)
            return torch.log_softmax(a @ b.T / self.distill_temperature, dim=1)

        teacher = log_p(width).detach()
        total = 0.0
        for dim, weight in zip(self.dims, self.weights, strict=True):
            if dim < width:
                student = log_p(dim)
                kl = (teacher.exp() * (teacher - student)).sum(1).mean()
                total = total + weight * kl
        return self.self_distill * total

    def _is_embedding(self, position: int, x: Any, width: int) -> bool:
        if self.positions is not None:
            return position in self.positions
        if isinstance(x, (list, tuple)):
            return bool(x) and all(_wide(t, width) for t in x)
        return _wide(x, width)

    def extra_repr(self) -> str:
        distill = f", self_distill={self.self_distill}" if self.self_distill else ""
        return f"dims={self.dims}, weights={self.weights}{distill}"


def _wide(x: Any, width: int) -> bool:
    return (
        isinstance(x, Tensor)
        and torch.is_floating_point(x)
        and x.ndim >= 2
        and x.shape[-1] >= width
    )


def _cut(x: Any, dim: int) -> Any:
    if isinstance(x, (list, tuple)):
        return type(x)(truncate(t, dim) for t in x)
    return truncate(x, dim)
