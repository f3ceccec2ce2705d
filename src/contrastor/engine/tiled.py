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

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from contrastor.engine.targets import Targets


def _ranges(total: int, tile: int) -> list[tuple[int, int]]:
    return [(start, min(start + tile, total)) for start in range(0, total, tile)]


def _block(
    query: Tensor,
    reference: Tensor,
    inv_t: Tensor,
    targets: Targets,
    self_index: Tensor | None,
    decoupled: bool,
    rows: tuple[int, int],
    cols: tuple[int, int],
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Scores, logits, target weights (zero on excluded pairs) and denominator mask of a block."""
    (a, b), (c, d) = rows, cols
    scores = query[a:b] @ reference[c:d].T
    scale = inv_t[a:b, None] if inv_t.ndim else inv_t
    logits = scores * scale
    weights = targets.block(slice(a, b), slice(c, d)).to(device=logits.device, dtype=logits.dtype)
    if self_index is None:
        valid = torch.ones_like(logits, dtype=torch.bool)
    else:
        own = self_index[a:b, None] - c
        valid = own != torch.arange(d - c, device=logits.device)[None, :]
        weights = weights * valid
    denominator = valid & (weights <= 0) if decoupled else valid
    return scores, logits, weights, denominator


class _Online:
    """Running log-sum-exp, target-weighted logit sum and target mass of some anchors."""

    def __init__(self, size: int, like: Tensor) -> None:
        self.max = torch.full((size,), float("-inf"), dtype=like.dtype, device=like.device)
        self.sum = torch.zeros_like(self.max)
        self.positive = torch.zeros_like(self.max)
        self.count = torch.zeros_like(self.max)

    def update(
        self, at: slice, masked: Tensor, weighted: Tensor, weights: Tensor, dim: int
    ) -> None:
        """Fold in a block whose anchors lie along ``1 - dim`` (``dim``: the reduced axis)."""
        old = self.max[at]
        new = torch.maximum(old, masked.amax(dim))
        safe = torch.where(torch.isinf(new), torch.zeros_like(new), new)
        shifted = masked - (safe[:, None] if dim == 1 else safe[None, :])
        self.sum[at] = self.sum[at] * torch.exp(old - safe) + torch.exp(shifted).sum(dim)
        self.max[at] = new
        self.positive[at] += weighted.sum(dim)
        self.count[at] += weights.sum(dim)

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
        for rows in _ranges(n, tile):
            a, b = rows
            for cols in _ranges(m, tile):
                _, logits, weights, den = _block(
                    query, reference, inv_t, targets, self_index, decoupled, rows, cols
                )
                masked = logits.masked_fill(~den, float("-inf"))
                weighted = weights * logits
                rows_state.update(slice(a, b), masked, weighted, weights, 1)
                if cols_state is not None:
                    cols_state.update(slice(*cols), masked, weighted, weights, 0)
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
        for rows in _ranges(n, tile):
            a, b = rows
            for cols in _ranges(m, tile):
                c, d = cols
                scores, logits, weights, den = _block(
                    query, reference, inv_t, targets, self_index, decoupled, rows, cols
                )
                zero = torch.zeros_like(logits)
                soft = torch.where(den, torch.exp(logits - lse[0][a:b, None]), zero)
                g = g_lse[0][a:b, None] * soft + per_target[0][a:b, None] * weights
                if both:
                    soft = torch.where(den, torch.exp(logits - lse[1][None, c:d]), zero)
                    g += g_lse[1][None, c:d] * soft + per_target[1][None, c:d] * weights
                grad_inv[a:b] += (g * scores).sum(1)
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
        for rows in _ranges(n, tile):
            a, b = rows
            for cols in _ranges(m, tile):
                _, logits, labels, valid = _sigmoid_block(
                    query, reference, inv_t, bias, targets, self_index, rows, cols
                )
                zero = torch.zeros_like(logits)
                count[a:b] += torch.where(valid, labels, zero).sum(1)
                positive[a:b] += torch.where(valid, -labels * F.logsigmoid(logits), zero).sum(1)
                negative[a:b] += torch.where(
                    valid, -(1.0 - labels) * F.logsigmoid(-logits), zero
                ).sum(1)
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
        for rows in _ranges(n, tile):
            a, b = rows
            for cols in _ranges(m, tile):
                c, d = cols
                scores, logits, labels, valid = _sigmoid_block(
                    query, reference, inv_t, bias, targets, self_index, rows, cols
                )
                sig = torch.sigmoid(logits)
                g = grad_pos[a:b, None] * (-labels * (1.0 - sig)) + grad_neg[a:b, None] * (
                    (1.0 - labels) * sig
                )
                g = torch.where(valid, g, torch.zeros_like(g))
                grad_b += g.sum()
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
    rows: tuple[int, int],
    cols: tuple[int, int],
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Scores, logits, labels in [0, 1] and compared-pair mask of one block."""
    (a, b), (c, d) = rows, cols
    scores = query[a:b] @ reference[c:d].T
    logits = scores * (inv_t[a:b, None] if inv_t.ndim else inv_t) + bias
    labels = targets.block(slice(a, b), slice(c, d)).to(device=logits.device, dtype=logits.dtype)
    if self_index is None:
        valid = torch.ones_like(logits, dtype=torch.bool)
    else:
        valid = (self_index[a:b, None] - c) != torch.arange(d - c, device=logits.device)[None, :]
    return scores, logits, labels.clamp(0.0, 1.0), valid
