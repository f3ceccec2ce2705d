"""The softmax and sigmoid objectives over blocks of the score matrix: one kernel for both
execution paths.

The ``(n, m)`` logits ``l_ij = s_ij / tau`` are visited in ``tile x tile`` blocks. The
forward pass keeps, per anchor, an online log-sum-exp of the denominator, the target-weighted
sum of logits and the target mass (float32, or float64 for float64 inputs); the backward pass
visits the blocks again and accumulates

    dL/dl_ij = g^neg_i * softmax_ij [j in D_i]  +  g^pos_i * P_ij / sum_k P_ik

into the gradients of queries, references and the inverse temperature. ``keep=True`` (the
dense path) keeps each block's logits for the backward pass, memory ``n x m``;
``keep=False`` (the tiled path) recomputes them, memory ``O((n + m) d + tile^2)``. Either way
the backward pass uses exactly the logits of the forward pass.

No block operation reads a tensor's value on the host: the self pair and index-aligned
positives are located by index arithmetic on Python integers, label positives by key
equality inside the block, so the number of host-device syncs does not grow with the number
of tiles. Matrix products follow :mod:`contrastor.engine.precision`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from contrastor._validation import require
from contrastor.engine.precision import matmul, operand
from contrastor.engine.targets import Targets


@dataclass(frozen=True)
class Layout:
    """What is fixed for one objective call.

    ``self_offset``: query i is reference ``self_offset + i`` (that pair is neither positive
    nor negative), or ``None``; ``decoupled``: positives leave the denominator; ``tile``:
    block edge; ``keep``: keep the blocks' logits for backward instead of recomputing them.
    """

    targets: Targets
    self_offset: int | None
    decoupled: bool
    tile: int
    keep: bool


def _blocks(n: int, m: int, tile: int) -> Iterator[tuple[int, int, int, int]]:
    """Row range ``a:b`` and column range ``c:d`` of every block, row-major."""
    for a in range(0, n, tile):
        for c in range(0, m, tile):
            yield a, min(a + tile, n), c, min(c + tile, m)


def _diagonal(offset: int, a: int, b: int, c: int, d: int) -> int | None:
    """Offset ``k`` of the block-local diagonal holding the pairs ``(i, offset + i)`` of the
    block ``[a:b, c:d]`` (``tensor.diagonal(k)``), or ``None`` when none falls inside."""
    k = a + offset - c
    return k if max(0, -k) < min(b - a, d - c - k) else None


def _rows_of(k: int, rows: int, cols: int) -> slice:
    """Block-local rows ``r`` whose pair ``(r, r + k)`` lies in a ``rows x cols`` block."""
    return slice(max(0, -k), min(rows, cols - k))


def _on_diagonal(k: int, rows: int, cols: int, device: torch.device) -> Tensor:
    mask = torch.zeros(rows, cols, dtype=torch.bool, device=device)
    mask.diagonal(k).fill_(True)
    return mask


def _logits(qa: Tensor, ra: Tensor, scale: Tensor, a: int, b: int, c: int, d: int) -> Tensor:
    """Logits of a block: the float32-accumulated product of the operands times 1/tau."""
    scores = matmul(qa[a:b], ra[c:d].T)
    return scores * (scale[a:b, None] if scale.ndim else scale)


@dataclass
class _Block:
    """One block: its logits, its positives (dense ``weights``, or weight 1 on the diagonal
    ``diagonal`` of index-aligned targets) and ``den``, the mask of the denominator
    (``None``: every pair of the block is in it)."""

    logits: Tensor
    weights: Tensor | None
    diagonal: int | None
    den: Tensor | None

    def masked(self) -> Tensor:
        return self.logits if self.den is None else self.logits.masked_fill(~self.den, -torch.inf)

    def positive_sums(self, dim: int) -> tuple[Tensor, Tensor]:
        """Target-weighted logit sum and target mass along ``dim`` (1: per row, 0: per column)."""
        if self.weights is not None:
            return (self.weights * self.logits).sum(dim), self.weights.sum(dim)
        rows, cols = self.logits.shape
        total = self.logits.new_zeros(rows if dim == 1 else cols)
        count = torch.zeros_like(total)
        if self.diagonal is not None:
            k = self.diagonal
            r = _rows_of(k, rows, cols)
            at = r if dim == 1 else slice(r.start + k, r.stop + k)
            total[at] = self.logits.diagonal(k)
            count[at] = 1.0
        return total, count

    def add_positive_grad(self, g: Tensor, row: Tensor | None, col: Tensor | None) -> Tensor:
        """``g + (row_i + col_j) P_ij`` for the block's target weights ``P``."""
        if self.weights is not None:
            factor = 0
            if row is not None:
                factor = row[:, None]
            if col is not None:
                factor = factor + col[None, :]
            return g + factor * self.weights
        if self.diagonal is not None:
            k = self.diagonal
            r = _rows_of(k, *g.shape)
            value = 0
            if row is not None:
                value = row[r]
            if col is not None:
                value = value + col[r.start + k : r.stop + k]
            g.diagonal(k).add_(value)
        return g


def _softmax_block(logits: Tensor, layout: Layout, a: int, b: int, c: int, d: int) -> _Block:
    """Positives and denominator of the block ``[a:b, c:d]`` with the given logits."""
    own = None if layout.self_offset is None else _diagonal(layout.self_offset, a, b, c, d)
    aligned = layout.targets.diagonal if layout.self_offset is None else None
    weights, diagonal, den = None, None, None
    if aligned is not None:
        diagonal = _diagonal(aligned, a, b, c, d)
        if layout.decoupled and diagonal is not None:
            den = ~_on_diagonal(diagonal, *logits.shape, logits.device)
    else:
        weights = layout.targets.block(slice(a, b), slice(c, d))
        weights = weights.to(device=logits.device, dtype=logits.dtype)
        if own is not None:
            self_mask = _on_diagonal(own, *logits.shape, logits.device)
            weights = weights.masked_fill(self_mask, 0.0)
            den = ~self_mask
        if layout.decoupled:
            den = (weights <= 0) if den is None else den & (weights <= 0)
    return _Block(logits, weights, diagonal, den)


class _Online:
    """Running log-sum-exp, target-weighted logit sum and target mass of some anchors."""

    def __init__(self, size: int, like: Tensor) -> None:
        self.max = torch.full((size,), float("-inf"), dtype=like.dtype, device=like.device)
        self.sum = torch.zeros_like(self.max)
        self.positive = torch.zeros_like(self.max)
        self.count = torch.zeros_like(self.max)

    def update(self, at: slice, block: _Block, dim: int) -> None:
        """Fold in a block whose anchors lie along ``1 - dim`` (``dim``: the reduced axis)."""
        masked = block.masked()
        old = self.max[at]
        new = torch.maximum(old, masked.amax(dim))
        safe = new if block.den is None else torch.where(torch.isinf(new), 0.0, new)
        shifted = masked - (safe[:, None] if dim == 1 else safe[None, :])
        self.sum[at] = self.sum[at] * torch.exp(old - safe) + torch.exp(shifted).sum(dim)
        self.max[at] = new
        positive, count = block.positive_sums(dim)
        self.positive[at] += positive
        self.count[at] += count

    def result(self) -> tuple[Tensor, Tensor, Tensor]:
        lse = torch.where(self.sum > 0, self.max + torch.log(self.sum), self.max)
        tiny = torch.finfo(self.count.dtype).tiny
        return lse, self.positive / self.count.clamp_min(tiny), self.count


def _check_targets(checks: list[Tensor]) -> None:
    if checks:
        ok = torch.stack(checks).all()
        require((ok, "targets (a comparator's output) must be finite and non-negative"))


def _target_check(layout: Layout, block: _Block, checks: list[Tensor]) -> None:
    """Targets that are not known valid (a user comparator) are checked as they stream."""
    if not layout.targets.trusted and block.weights is not None:
        w = block.weights
        checks.append(torch.isfinite(w).all() & ~(w < 0).any())


class BlockSoftmax(torch.autograd.Function):
    """Per-anchor ``(log-sum-exp over D_i, sum_j Pn_ij l_ij, sum_j P_ij)`` over blocks.

    With ``both=True`` the same blocks also give the statistics of the references as anchors
    (the reverse direction of a symmetric loss, ``P.T``), so both directions cost one pass.
    """

    @staticmethod
    def forward(
        ctx: Any,
        query: Tensor,
        reference: Tensor,
        inv_t: Tensor,
        layout: Layout,
        both: bool = False,
    ) -> tuple[Tensor, ...]:
        n, m = query.shape[0], reference.shape[0]
        qa, ra = operand(query), operand(reference)
        rows_state, cols_state = _Online(n, query), _Online(m, query) if both else None
        kept, checks = [], []
        for a, b, c, d in _blocks(n, m, layout.tile):
            block = _softmax_block(_logits(qa, ra, inv_t, a, b, c, d), layout, a, b, c, d)
            _target_check(layout, block, checks)
            rows_state.update(slice(a, b), block, 1)
            if cols_state is not None:
                cols_state.update(slice(c, d), block, 0)
            if layout.keep:
                kept.append(block.logits)
        _check_targets(checks)
        outputs = rows_state.result() + (cols_state.result() if cols_state is not None else ())
        ctx.save_for_backward(qa, ra, inv_t, *outputs[0::3], *outputs[2::3])
        ctx.config = (layout, both, query.dtype, reference.dtype)
        ctx.kept = kept
        ctx.mark_non_differentiable(*outputs[2::3])
        return outputs

    @staticmethod
    def backward(ctx: Any, *grads: Tensor) -> tuple[Tensor | None, ...]:
        layout, both, q_dtype, r_dtype = ctx.config
        qa, ra, inv_t, *saved = ctx.saved_tensors
        kept = iter(ctx.kept)
        lse, count = saved[: len(saved) // 2], saved[len(saved) // 2 :]
        tiny = torch.finfo(lse[0].dtype).tiny
        g_lse = grads[0::3]
        per_target = [g / c.clamp_min(tiny) for g, c in zip(grads[1::3], count, strict=True)]
        n, m = qa.shape[0], ra.shape[0]
        grad_q = torch.zeros(qa.shape, dtype=lse[0].dtype, device=qa.device)
        grad_r = torch.zeros(ra.shape, dtype=lse[0].dtype, device=ra.device)
        grad_inv = torch.zeros(n, dtype=lse[0].dtype, device=qa.device)
        want_t = ctx.needs_input_grad[2]
        with torch.autocast(qa.device.type, enabled=False):
            for a, b, c, d in _blocks(n, m, layout.tile):
                logits = next(kept) if layout.keep else _logits(qa, ra, inv_t, a, b, c, d)
                block = _softmax_block(logits, layout, a, b, c, d)
                g = g_lse[0][a:b, None] * torch.exp(block.logits - lse[0][a:b, None])
                if both:
                    g = g + g_lse[1][None, c:d] * torch.exp(block.logits - lse[1][None, c:d])
                if block.den is not None:
                    g = g.masked_fill(~block.den, 0.0)
                col = per_target[1][c:d] if both else None
                g = block.add_positive_grad(g, per_target[0][a:b], col)
                if want_t:
                    grad_inv[a:b] += (g * block.logits).sum(1)
                g = g * (inv_t[a:b, None] if inv_t.ndim else inv_t)
                grad_q[a:b] += matmul(g.to(ra.dtype), ra[c:d])
                grad_r[c:d] += matmul(g.T.to(qa.dtype), qa[a:b])
        grad_t = None
        if want_t:
            grad_inv = grad_inv / inv_t
            grad_t = (grad_inv if inv_t.ndim else grad_inv.sum()).to(inv_t.dtype)
        return grad_q.to(q_dtype), grad_r.to(r_dtype), grad_t, None, None


def _sigmoid_block(logits: Tensor, layout: Layout, a: int, b: int, c: int, d: int) -> _Block:
    """The block ``[a:b, c:d]`` with its logits (bias included) and labels in [0, 1] as
    ``weights`` (or the diagonal of index-aligned targets); ``den`` marks the compared pairs."""
    own = None if layout.self_offset is None else _diagonal(layout.self_offset, a, b, c, d)
    aligned = layout.targets.diagonal if layout.self_offset is None else None
    if aligned is not None:
        return _Block(logits, None, _diagonal(aligned, a, b, c, d), None)
    labels = layout.targets.block(slice(a, b), slice(c, d))
    labels = labels.to(device=logits.device, dtype=logits.dtype).clamp(0.0, 1.0)
    den = None
    if own is not None:
        den = ~_on_diagonal(own, *logits.shape, logits.device)
        labels = labels.masked_fill(~den, 0.0)
    return _Block(logits, labels, None, den)


def _labels(block: _Block) -> Tensor:
    if block.weights is not None:
        return block.weights
    labels = torch.zeros_like(block.logits)
    if block.diagonal is not None:
        labels.diagonal(block.diagonal).fill_(1.0)
    return labels


class BlockSigmoid(torch.autograd.Function):
    """Per-anchor pairwise-sigmoid terms ``(positive, negative, label mass)`` over blocks:
    ``positive_i = sum_j y_ij softplus(-l_ij)``, ``negative_i = sum_j (1 - y_ij) softplus(l_ij)``.
    """

    @staticmethod
    def forward(
        ctx: Any, query: Tensor, reference: Tensor, inv_t: Tensor, bias: Tensor, layout: Layout
    ) -> tuple[Tensor, Tensor, Tensor]:
        n, m = query.shape[0], reference.shape[0]
        qa, ra = operand(query), operand(reference)
        positive = torch.zeros(n, dtype=query.dtype, device=query.device)
        negative, count = torch.zeros_like(positive), torch.zeros_like(positive)
        kept, checks = [], []
        for a, b, c, d in _blocks(n, m, layout.tile):
            logits = _logits(qa, ra, inv_t, a, b, c, d) + bias
            block = _sigmoid_block(logits, layout, a, b, c, d)
            _target_check(layout, block, checks)
            y = _labels(block)
            pos, neg = y * F.softplus(-logits), (1.0 - y) * F.softplus(logits)
            if block.den is not None:
                pos, neg = pos.masked_fill(~block.den, 0.0), neg.masked_fill(~block.den, 0.0)
            count[a:b] += y.sum(1)
            positive[a:b] += pos.sum(1)
            negative[a:b] += neg.sum(1)
            if layout.keep:
                kept.append(logits)
        _check_targets(checks)
        ctx.save_for_backward(qa, ra, inv_t, bias)
        ctx.config = (layout, query.dtype, reference.dtype)
        ctx.kept = kept
        ctx.mark_non_differentiable(count)
        return positive, negative, count

    @staticmethod
    def backward(
        ctx: Any, grad_pos: Tensor, grad_neg: Tensor, _grad_count: Tensor
    ) -> tuple[Tensor | None, ...]:
        qa, ra, inv_t, bias = ctx.saved_tensors
        layout, q_dtype, r_dtype = ctx.config
        kept = iter(ctx.kept)
        n, m = qa.shape[0], ra.shape[0]
        dtype = grad_pos.dtype
        grad_q = torch.zeros(qa.shape, dtype=dtype, device=qa.device)
        grad_r = torch.zeros(ra.shape, dtype=dtype, device=ra.device)
        grad_inv = torch.zeros(n, dtype=dtype, device=qa.device)
        grad_b = torch.zeros((), dtype=dtype, device=qa.device)
        want_t = ctx.needs_input_grad[2]
        with torch.autocast(qa.device.type, enabled=False):
            for a, b, c, d in _blocks(n, m, layout.tile):
                logits = next(kept) if layout.keep else _logits(qa, ra, inv_t, a, b, c, d) + bias
                block = _sigmoid_block(logits, layout, a, b, c, d)
                y, sig = _labels(block), torch.sigmoid(logits)
                g = grad_pos[a:b, None] * (-y * (1.0 - sig)) + grad_neg[a:b, None] * (
                    (1.0 - y) * sig
                )
                if block.den is not None:
                    g = g.masked_fill(~block.den, 0.0)
                grad_b += g.sum()
                if want_t:
                    grad_inv[a:b] += (g * (logits - bias)).sum(1)
                g = g * (inv_t[a:b, None] if inv_t.ndim else inv_t)
                grad_q[a:b] += matmul(g.to(ra.dtype), ra[c:d])
                grad_r[c:d] += matmul(g.T.to(qa.dtype), qa[a:b])
        grad_t = None
        if want_t:
            grad_inv = grad_inv / inv_t
            grad_t = (grad_inv if inv_t.ndim else grad_inv.sum()).to(inv_t.dtype)
        return grad_q.to(q_dtype), grad_r.to(r_dtype), grad_t, grad_b.to(bias.dtype), None
