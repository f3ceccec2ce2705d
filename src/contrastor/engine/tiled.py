"""The softmax objective, tiled path: exact, with memory linear in the number of samples.

Same numbers as :func:`contrastor.engine.softmax.softmax_objective`, computed over
``tile x tile`` blocks of the score matrix. The forward pass keeps, per anchor, an online
log-sum-exp of the denominator, the target-weighted sum of logits and the target mass; the
backward pass recomputes each block and accumulates

    dL/dl_ij = g^neg_i * softmax_ij [j in D_i]  +  g^pos_i * P_ij / sum_k P_ik

into the gradients of queries, references and the inverse temperature. Nothing of size
``n x m`` is ever stored: memory is ``O((n + m) d + tile^2)``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from contrastor.engine.targets import Targets


def _blocks(n: int, m: int, tile: int) -> Iterator[tuple[int, int, int, int]]:
    """Row range ``a:b`` and column range ``c:d`` of every block, row-major."""
    for a in range(0, n, tile):
        for c in range(0, m, tile):
            yield a, min(a + tile, n), c, min(c + tile, m)


def _scores(
    query: Tensor, reference: Tensor, inv_t: Tensor, a: int, b: int, c: int, d: int
) -> tuple[Tensor, Tensor]:
    """Scores ``s_ij`` and logits ``s_ij / tau`` of a block."""
    scores = query[a:b] @ reference[c:d].T
    return scores, scores * (inv_t[a:b, None] if inv_t.ndim else inv_t)


def _self_pairs(
    self_index: Tensor | None, a: int, b: int, c: int, d: int
) -> tuple[Tensor, tuple[Tensor, Tensor]] | None:
    """Each row's own column inside the block (-1 when outside) and the excluded
    ``(rows, columns)`` pairs; ``None`` without a self index."""
    if self_index is None:
        return None
    own = self_index[a:b] - c
    inside = (own >= 0) & (own < d - c)
    own = torch.where(inside, own, -1)
    return own, (torch.nonzero(inside).squeeze(1), own[inside])


@dataclass
class _Tile:
    """One block of the score matrix with what the objective needs of it.

    Positives come either as sparse ``pairs`` (block-local rows, columns, weights) when the
    targets can list them, or as a dense ``weights`` block. ``den`` masks the denominator;
    ``None`` means every pair of the block is in it.
    """

    scores: Tensor
    logits: Tensor
    den: Tensor | None
    pairs: tuple[Tensor, Tensor, Tensor] | None
    weights: Tensor | None

    def positive_sums(self, dim: int, size: int) -> tuple[Tensor, Tensor]:
        """Target-weighted logit sum and target mass along ``dim`` (1: per row, 0: per column)."""
        if self.pairs is None:
            return (self.weights * self.logits).sum(dim), self.weights.sum(dim)
        i, j, w = self.pairs
        at = i if dim == 1 else j
        zero = self.logits.new_zeros(size)
        return zero.index_add(0, at, w * self.logits[i, j]), zero.index_add(0, at, w)

    def add_positive_grad(self, g: Tensor, row: Tensor | None, col: Tensor | None) -> Tensor:
        """``g + row_i * P_ij + col_j * P_ij`` for the block's target weights ``P``."""
        if self.pairs is None:
            factor = 0
            if row is not None:
                factor = row[:, None] + (col[None, :] if col is not None else 0)
            elif col is not None:
                factor = col[None, :]
            return g + factor * self.weights
        i, j, w = self.pairs
        value = (row[i] if row is not None else 0) + (col[j] if col is not None else 0)
        return g.index_put((i, j), w * value, accumulate=True)


def _block(
    query: Tensor,
    reference: Tensor,
    inv_t: Tensor,
    targets: Targets,
    self_index: Tensor | None,
    decoupled: bool,
    a: int,
    b: int,
    c: int,
    d: int,
) -> _Tile:
    """Scores, logits, positives and denominator mask of the block ``[a:b, c:d]``."""
    scores, logits = _scores(query, reference, inv_t, a, b, c, d)
    self_pairs = _self_pairs(self_index, a, b, c, d)
    pairs = targets.pairs(slice(a, b), slice(c, d))
    weights = None
    if pairs is not None:
        i, j, w = (t.to(logits.device) for t in pairs)
        if self_pairs is not None:
            keep = self_pairs[0][i] != j
            i, j, w = i[keep], j[keep], w[keep]
        pairs = (i, j, w.to(logits.dtype))
    else:
        weights = targets.block(slice(a, b), slice(c, d)).to(logits.device, logits.dtype)
        if self_pairs is not None:
            weights = weights.index_put(self_pairs[1], weights.new_zeros(()))
    den = None
    if self_pairs is not None or decoupled:
        den = torch.ones_like(logits, dtype=torch.bool)
        if self_pairs is not None:
            den[self_pairs[1]] = False
        if decoupled:
            if pairs is not None:
                den[pairs[0], pairs[1]] = False
            else:
                den &= weights <= 0
    return _Tile(scores, logits, den, pairs, weights)


class _Online:
    """Running log-sum-exp, target-weighted logit sum and target mass of some anchors."""

    def __init__(self, size: int, like: Tensor) -> None:
        self.max = torch.full((size,), float("-inf"), dtype=like.dtype, device=like.device)
        self.sum = torch.zeros_like(self.max)
        self.positive = torch.zeros_like(self.max)
        self.count = torch.zeros_like(self.max)

    def update(self, at: slice, block: _Tile, dim: int) -> None:
        """Fold in a block whose anchors lie along ``1 - dim`` (``dim``: the reduced axis)."""
        den = block.den
        masked = block.logits if den is None else block.logits.masked_fill(~den, -torch.inf)
        old = self.max[at]
        new = torch.maximum(old, masked.amax(dim))
        safe = new if den is None else torch.where(torch.isinf(new), 0.0, new)
        shifted = masked - (safe[:, None] if dim == 1 else safe[None, :])
        self.sum[at] = self.sum[at] * torch.exp(old - safe) + torch.exp(shifted).sum(dim)
        self.max[at] = new
        positive, count = block.positive_sums(dim, len(new))
        self.positive[at] += positive
        self.count[at] += count

    def result(self) -> tuple[Tensor, Tensor, Tensor]:
        lse = torch.where(self.sum > 0, self.max + torch.log(self.sum), self.max)
        tiny = torch.finfo(self.count.dtype).tiny
        return lse, self.positive / self.count.clamp_min(tiny), self.count


class TiledSoftmax(torch.autograd.Function):
    """Per-anchor ``(log-sum-exp over D_i, sum_j Pn_ij l_ij, sum_j P_ij)`` by tiles.

    With ``both=True`` the same blocks also give the statistics of the references as anchors
    (the reverse direction of a symmetric loss, ``P.T``), so both directions cost one pass.
    """

    @staticmethod
    def forward(
        ctx: Any,
        query: Tensor,
        reference: Tensor,
        inv_t: Tensor,
        targets: Targets,
        self_index: Tensor | None,
        decoupled: bool,
        tile: int,
        both: bool = False,
    ) -> tuple[Tensor, ...]:
        n, m = query.shape[0], reference.shape[0]
        rows_state, cols_state = _Online(n, query), _Online(m, query) if both else None
        for a, b, c, d in _blocks(n, m, tile):
            block = _block(query, reference, inv_t, targets, self_index, decoupled, a, b, c, d)
            rows_state.update(slice(a, b), block, 1)
            if cols_state is not None:
                cols_state.update(slice(c, d), block, 0)
        outputs = rows_state.result() + (cols_state.result() if cols_state is not None else ())
        ctx.save_for_backward(query, reference, inv_t, *outputs[0::3], *outputs[2::3])
        ctx.config = (targets, self_index, decoupled, tile, both)
        ctx.mark_non_differentiable(*outputs[2::3])
        return outputs

    @staticmethod
    def backward(ctx: Any, *grads: Tensor) -> tuple[Tensor | None, ...]:
        targets, self_index, decoupled, tile, both = ctx.config
        query, reference, inv_t, *saved = ctx.saved_tensors
        lse, count = saved[: len(saved) // 2], saved[len(saved) // 2 :]
        tiny = torch.finfo(query.dtype).tiny
        g_lse = grads[0::3]
        per_target = [g / c.clamp_min(tiny) for g, c in zip(grads[1::3], count, strict=True)]
        n, m = query.shape[0], reference.shape[0]
        grad_q = torch.zeros_like(query)
        grad_r = torch.zeros_like(reference)
        grad_inv = torch.zeros(n, dtype=query.dtype, device=query.device)
        want_t = ctx.needs_input_grad[2]
        for a, b, c, d in _blocks(n, m, tile):
            block = _block(query, reference, inv_t, targets, self_index, decoupled, a, b, c, d)
            g = g_lse[0][a:b, None] * torch.exp(block.logits - lse[0][a:b, None])
            if both:
                g += g_lse[1][None, c:d] * torch.exp(block.logits - lse[1][None, c:d])
            if block.den is not None:
                g = g.masked_fill(~block.den, 0.0)
            g = block.add_positive_grad(g, per_target[0][a:b], per_target[1][c:d] if both else None)
            if want_t:
                grad_inv[a:b] += (g * block.scores).sum(1)
            g = g * (inv_t[a:b, None] if inv_t.ndim else inv_t)
            grad_q[a:b] += g @ reference[c:d]
            grad_r[c:d] += g.T @ query[a:b]
        grad_t = grad_inv if inv_t.ndim else grad_inv.sum()
        return grad_q, grad_r, grad_t.to(inv_t.dtype), None, None, None, None, None


class TiledSigmoid(torch.autograd.Function):
    """Per-anchor pairwise-sigmoid terms ``(positive, negative)`` summed over tiles."""

    @staticmethod
    def forward(
        ctx: Any,
        query: Tensor,
        reference: Tensor,
        inv_t: Tensor,
        bias: Tensor,
        targets: Targets,
        self_index: Tensor | None,
        tile: int,
    ) -> tuple[Tensor, Tensor, Tensor]:
        n, m = query.shape[0], reference.shape[0]
        positive = torch.zeros(n, dtype=query.dtype, device=query.device)
        negative = torch.zeros_like(positive)
        count = torch.zeros_like(positive)
        for a, b, c, d in _blocks(n, m, tile):
            _, logits, labels, valid = _sigmoid_block(
                query, reference, inv_t, bias, targets, self_index, a, b, c, d
            )
            zero = torch.zeros_like(logits)
            count[a:b] += torch.where(valid, labels, zero).sum(1)
            positive[a:b] += torch.where(valid, -labels * F.logsigmoid(logits), zero).sum(1)
            negative[a:b] += torch.where(valid, -(1.0 - labels) * F.logsigmoid(-logits), zero).sum(
                1
            )
        ctx.save_for_backward(query, reference, inv_t, bias)
        ctx.config = (targets, self_index, tile)
        ctx.mark_non_differentiable(count)
        return positive, negative, count

    @staticmethod
    def backward(
        ctx: Any, grad_pos: Tensor, grad_neg: Tensor, _grad_count: Tensor
    ) -> tuple[Tensor | None, ...]:
        query, reference, inv_t, bias = ctx.saved_tensors
        targets, self_index, tile = ctx.config
        n, m = query.shape[0], reference.shape[0]
        grad_q, grad_r = torch.zeros_like(query), torch.zeros_like(reference)
        grad_inv = torch.zeros(n, dtype=query.dtype, device=query.device)
        grad_b = torch.zeros((), dtype=query.dtype, device=query.device)
        want_t = ctx.needs_input_grad[2]
        for a, b, c, d in _blocks(n, m, tile):
            scores, logits, labels, valid = _sigmoid_block(
                query, reference, inv_t, bias, targets, self_index, a, b, c, d
            )
            sig = torch.sigmoid(logits)
            g = grad_pos[a:b, None] * (-labels * (1.0 - sig)) + grad_neg[a:b, None] * (
                (1.0 - labels) * sig
            )
            g = torch.where(valid, g, torch.zeros_like(g))
            grad_b += g.sum()
            if want_t:
                grad_inv[a:b] += (g * scores).sum(1)
            g = g * (inv_t[a:b, None] if inv_t.ndim else inv_t)
            grad_q[a:b] += g @ reference[c:d]
            grad_r[c:d] += g.T @ query[a:b]
        grad_t = grad_inv if inv_t.ndim else grad_inv.sum()
        return grad_q, grad_r, grad_t.to(inv_t.dtype), grad_b.to(bias.dtype), None, None, None


def _sigmoid_block(
    query: Tensor,
    reference: Tensor,
    inv_t: Tensor,
    bias: Tensor,
    targets: Targets,
    self_index: Tensor | None,
    a: int,
    b: int,
    c: int,
    d: int,
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Scores, logits, labels in [0, 1] and compared-pair mask of the block ``[a:b, c:d]``."""
    scores, logits = _scores(query, reference, inv_t, a, b, c, d)
    labels = targets.block(slice(a, b), slice(c, d)).to(device=logits.device, dtype=logits.dtype)
    valid = torch.ones_like(logits, dtype=torch.bool)
    self_pairs = _self_pairs(self_index, a, b, c, d)
    if self_pairs is not None:
        valid[self_pairs[1]] = False
    return scores, logits + bias, labels.clamp(0.0, 1.0), valid
