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

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from contrastor._validation import finite_nonnegative, require
from contrastor.engine.adjust import NO_ADJUST, Adjust
from contrastor.engine.precision import HALF, matmul, no_autocast, operand, operand_dtype
from contrastor.engine.similarity import EPS, row_norms
from contrastor.engine.targets import Targets


@dataclass(frozen=True)
class Layout:
    """What is fixed for one objective call.

    ``self_offset``: query i is reference ``self_offset + i`` (that pair is neither positive
    nor negative), or ``None``; ``decoupled``: positives leave the denominator; ``tile``:
    block edge; ``keep``: keep the blocks' logits for backward instead of recomputing them;
    ``normalize``: cosine similarity, the rows' L2 norms folded into the scales of
    :class:`Operands` (the kernel is given raw embeddings); ``shape``: queries and
    references; ``shift``: ``M`` with ``|l_ij| <= M <= 40`` known on the host (``1/tau`` of
    cosine logits) for blocks that exclude no pair, so that a symmetric call takes both
    directions' sums from one ``exp(l - M)`` per block, forward and backward; ``adjust``:
    weights, margins, top-k, positive mode and smoothing (:mod:`contrastor.engine.adjust`);
    ``score``: a user similarity in place of the dot product (:class:`ScoreOperands`).
    Derived: ``defined``, whether every query, and every reference as an anchor of the
    reverse direction, is known from the layout alone to be defined
    (:func:`_defined_everywhere`).
    """

    targets: Targets
    self_offset: int | None
    decoupled: bool
    tile: int
    keep: bool
    normalize: bool
    shape: tuple[int, int]
    shift: float | None = None
    adjust: Adjust = NO_ADJUST
    score: Callable[..., Tensor] | None = None
    defined: tuple[bool, bool] = field(init=False)

    def __post_init__(self) -> None:
        n, m = self.shape
        both = tuple(_defined_everywhere(self, n, m, transposed) for transposed in (False, True))
        object.__setattr__(self, "defined", both)


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


def _on_diagonal(offsets: tuple[int, ...], rows: int, cols: int, device: torch.device) -> Tensor:
    """``rows x cols`` bool mask, True on the diagonals ``offsets``."""
    mask = torch.zeros(rows, cols, dtype=torch.bool, device=device)
    for k in offsets:
        mask.diagonal(k).fill_(True)
    return mask


def rows_scaled(x: Tensor, scale: Tensor) -> Tensor:
    """``x`` with row i times ``scale`` (a scalar or one per row)."""
    return x * (scale.unsqueeze(1) if scale.ndim else scale)


class Operands:
    """The two operands of the block products and their float32 scales.

    Logits are ``l_ij = row_i col_j (q_i . r_j)`` with ``row_i = (1/tau_i) / |q_i|`` and
    ``col_j = 1 / |r_j|`` for cosine similarity (``row = 1/tau``, no ``col`` for the dot
    product), so normalisation and temperature cost no autograd node of their own.
    Full-precision operands carry their scales (one ``O((n + m) d)`` multiply each);
    low-precision operands (:mod:`contrastor.engine.precision`) stay the caller's values, cast
    once, and the scales multiply each float32-accumulated block product instead, so bf16
    embeddings enter the tensor-core product exactly.
    """

    #: what backward rebuilds it from (:meth:`saved`, :meth:`restore`)
    FIELDS = ("query", "reference", "inv_t", "q_norm", "r_norm", "qa", "ra", "row", "col")

    def __init__(self, query: Tensor, reference: Tensor, inv_t: Tensor, normalize: bool) -> None:
        self.query, self.reference, self.inv_t = query, reference, inv_t
        self.q_norm = self.r_norm = self.col = None
        self.row = inv_t
        if normalize:
            self.q_norm, self.r_norm = row_norms(query), row_norms(reference)
            finite = torch.isfinite(self.q_norm.sum() + self.r_norm.sum())
            require((finite, "the embeddings contain NaN or inf values (or a row norm overflows)"))
            self.row, self.col = inv_t / self.q_norm, self.r_norm.reciprocal()
        if operand_dtype(query) in HALF:
            self.qa, self.ra = operand(query), operand(reference)
        else:
            self.qa = rows_scaled(query, self.row)
            self.ra = reference if self.col is None else rows_scaled(reference, self.col)

    def inverse_temperature(self, a: int, b: int) -> Tensor:
        """``1/tau`` of the rows ``a:b`` (the scalar itself when shared)."""
        return _part(self.inv_t, a, b) if self.inv_t.ndim else self.inv_t

    @property
    def low(self) -> bool:
        """Low-precision operands: the scales multiply the products, not the operands."""
        return self.qa.dtype in HALF

    def saved(self) -> tuple[Tensor | None, ...]:
        return tuple(getattr(self, name) for name in self.FIELDS)

    @classmethod
    def restore(cls, saved: tuple[Tensor | None, ...]) -> Operands:
        ops = cls.__new__(cls)
        for name, value in zip(cls.FIELDS, saved, strict=True):
            setattr(ops, name, value)
        return ops

    def logits(self, a: int, b: int, c: int, d: int) -> Tensor:
        """Float32 logits of the block ``[a:b, c:d]``."""
        out = matmul(_part(self.qa, a, b), _part(self.ra, c, d).T)
        return self.post_scaled(out, a, b, c, d)

    def post_scaled(self, x: Tensor, a: int, b: int, c: int, d: int) -> Tensor:
        """``x`` (a fresh block, scaled in place) times the scales that low-precision
        operands do not carry; ``x`` itself for full-precision ones."""
        if not self.low:
            return x
        x.mul_(self.row[a:b, None] if self.row.ndim else self.row)
        if self.col is not None:
            x.mul_(self.col[None, c:d])
        return x


class ScoreOperands:
    """The operands of a user similarity ``score(q_rows, r_cols, rows, cols) -> (rows,
    cols)``: logits ``l_ij = score_ij / tau_i``, each block computed without a graph in the
    forward pass and differentiated on its own in the backward pass (with respect to the
    embeddings, 1/tau and the score's ``params``), so the tiled path stays exact and linear
    in memory whatever the similarity. ``rows`` and ``cols`` say which queries and
    references a block holds (e.g. to look up their labels)."""

    def __init__(self, query: Tensor, reference: Tensor, inv_t: Tensor, score: Callable) -> None:
        self.query, self.reference, self.inv_t, self.score = query, reference, inv_t, score

    def saved(self) -> tuple[Tensor | None, ...]:
        padding = (None,) * (len(Operands.FIELDS) - 3)
        return (self.query, self.reference, self.inv_t, *padding)

    @classmethod
    def restore(cls, saved: tuple[Tensor | None, ...], score: Callable) -> ScoreOperands:
        return cls(saved[0], saved[1], saved[2], score)

    inverse_temperature = Operands.inverse_temperature

    def scores(self, q: Tensor, r: Tensor, a: int, b: int, c: int, d: int) -> Tensor:
        out = self.score(q, r, slice(a, b), slice(c, d))
        if not isinstance(out, Tensor) or out.shape != (b - a, d - c):
            raise ValueError(f"score must return a ({b - a}, {d - c}) tensor of similarities")
        return out

    def logits(self, a: int, b: int, c: int, d: int) -> Tensor:
        with torch.no_grad():
            s = self.scores(self.query[a:b], self.reference[c:d], a, b, c, d)
        return rows_scaled(s.to(self.query.dtype), self.inverse_temperature(a, b))


class _ScoreGradients:
    """Gradients of a user similarity's inputs, 1/tau and parameters, summed over blocks:
    each block's scores are recomputed with a graph and ``dL/ds = dL/dl / tau`` is pushed
    through them (``dL/d(1/tau_i) = sum_j dL/dl_ij s_ij``)."""

    def __init__(self, ops: ScoreOperands, params: tuple[Tensor, ...], want_t: bool) -> None:
        self.ops, self.params, self.want_t = ops, params, want_t
        self.q, self.r, self.t = _Sums(), _Sums(), _Sums()
        self.param_grads: list[Tensor | None] = [None] * len(params)

    def add(self, g: Tensor, a: int, b: int, c: int, d: int) -> None:
        ops = self.ops
        with torch.enable_grad():
            q = ops.query[a:b].detach().requires_grad_(True)
            r = ops.reference[c:d].detach().requires_grad_(True)
            s = ops.scores(q, r, a, b, c, d)
            upstream = rows_scaled(g, ops.inverse_temperature(a, b)).to(s.dtype)
            grads = torch.autograd.grad(
                s, (q, r, *self.params), upstream, allow_unused=True, materialize_grads=True
            )
        self.q.add(a, grads[0])
        self.r.add(c, grads[1])
        for k, grad in enumerate(grads[2:]):
            old = self.param_grads[k]
            self.param_grads[k] = grad if old is None else old + grad
        if self.want_t:
            _add_temperature_share(self.t, ops.inv_t, a, (g * s.detach().to(g.dtype)).sum(1))

    def result(
        self, want_t: bool, q_dtype: torch.dtype, r_dtype: torch.dtype
    ) -> tuple[Tensor | None, ...]:
        grad_t = _cast(self.t.result(), self.ops.inv_t.dtype) if want_t else None
        return _cast(self.q.result(), q_dtype), _cast(self.r.result(), r_dtype), grad_t


@dataclass
class _Block:
    """One block: its logits, its positives (dense ``weights``, or weight 1 on the block-local
    diagonals ``diagonals`` of index-aligned targets) and ``out``, the mask of the pairs left
    out of the denominator (``None``: every pair of the block is in it); ``margins``: the
    positives' margins in similarity units (:class:`~contrastor.engine.adjust.Adjust`)."""

    logits: Tensor
    weights: Tensor | None
    diagonals: tuple[int, ...]
    out: Tensor | None
    decoupled: bool = False
    margins: Tensor | None = None

    def positive_mask(self) -> Tensor:
        """Bool mask of the block's positives."""
        if self.weights is not None:
            return self.weights > 0
        return _on_diagonal(self.diagonals, *self.logits.shape, self.logits.device)

    def exclude(self, mask: Tensor) -> None:
        """Leave the pairs of ``mask`` out of the denominator too."""
        self.out = mask if self.out is None else self.out | mask

    def negative_mask(self) -> Tensor:
        """Bool mask of the compared pairs that are not positives."""
        positive = self.positive_mask()
        return ~positive if self.out is None else ~(positive | self.out)

    def denominator_sums(self, dim: int) -> tuple[Tensor, Tensor]:
        """Sum of the denominator's logits and its size along ``dim``."""
        if self.out is None:
            size = self.logits.shape[dim]
            total = self.logits.sum(dim)
            return total, torch.full_like(total, float(size))
        kept = ~self.out
        return self.logits.masked_fill(self.out, 0.0).sum(dim), kept.sum(dim).to(self.logits.dtype)

    def masked(self) -> Tensor:
        """The logits with the pairs outside the denominator at -inf."""
        if self.out is None:
            return self.logits
        if not hasattr(self, "_masked"):
            self._masked = self.logits.masked_fill(self.out, -torch.inf)
        return self._masked

    def _one_positive(self, dim: int) -> int | None:
        """Offset of the block-local diagonal holding exactly one positive for every anchor
        along ``1 - dim``, or ``None``."""
        if self.weights is not None or len(self.diagonals) != 1:
            return None
        k = self.diagonals[0]
        rows = _rows_of(k, *self.logits.shape)
        return k if rows.stop - rows.start == self.logits.shape[1 - dim] else None

    def log_partition(self, dim: int) -> Tensor:
        """Log-sum-exp of the denominator along ``dim``. With one positive per anchor inside
        the denominator it comes from the fused log-softmax kernel at that positive,
        ``lse_i = l_ik - log_softmax(l)_ik`` (exact up to the rounding of ``l_ik - max_i``;
        several times faster on CPU than ``torch.logsumexp``)."""
        k = None if self.decoupled else self._one_positive(dim)
        if k is None:
            return torch.logsumexp(self.masked(), dim)
        return self.logits.diagonal(k) - torch.log_softmax(self.masked(), dim).diagonal(k)

    def positive_sums(
        self, dim: int, counting: bool = True, inside: bool = False
    ) -> tuple[Tensor, Tensor | None]:
        """Target-weighted logit sum and target mass along ``dim`` (1: per row, 0: per column);
        no mass when not ``counting`` (known to be 1 for every anchor). ``inside``: the
        log of the target-weighted sum of ``exp(l)`` instead (``positive_mode="in"``)."""
        if self.weights is not None:
            if inside:
                return torch.logsumexp(self.weights.log() + self.logits, dim), self.weights.sum(dim)
            return (self.weights * self.logits).sum(dim), self.weights.sum(dim)
        rows, cols = self.logits.shape
        size = rows if dim == 1 else cols
        k = self._one_positive(dim)
        if k is not None:
            total = self.logits.diagonal(k)  # one positive for every anchor
            return total, torch.ones_like(total) if counting else None
        total = self.logits.new_full((size,), -torch.inf if inside else 0.0)
        count = self.logits.new_zeros(size) if counting else None
        for k in self.diagonals:
            r = _rows_of(k, rows, cols)
            at = r if dim == 1 else slice(r.start + k, r.stop + k)
            if inside:
                total[at] = torch.logaddexp(total[at], self.logits.diagonal(k))
            else:
                total[at] += self.logits.diagonal(k)
            if counting:
                count[at] += 1.0
        return total, count

    def add_positive_grad(
        self,
        g: Tensor,
        row: Tensor | None,
        col: Tensor | None,
        means: tuple[Tensor | None, Tensor | None] = (None, None),
    ) -> Tensor:
        """``g + (row_i e_ij + col_j e'_ij) P_ij`` for the block's target weights ``P``, with
        ``e = 1``, or ``e_ij = exp(l_ij - mean_i)`` where ``means`` gives an anchor's
        log-mean-exp over its positives (``positive_mode="in"``; ``e'`` from the columns')."""
        if self.weights is not None:
            positive = self.weights > 0
            factor = 0
            for scale, mean, shape in ((row, means[0], (-1, 1)), (col, means[1], (1, -1))):
                if scale is None:
                    continue
                term = scale.view(shape)
                if mean is not None:
                    ratio = torch.sub(self.logits, mean.view(shape)).exp_()
                    term = term * ratio.masked_fill_(~positive, 0.0)
                factor = factor + term
            return g + factor * self.weights
        for k in self.diagonals:
            r = _rows_of(k, *g.shape)
            at = slice(r.start + k, r.stop + k)
            value = 0
            for scale, mean, span in ((row, means[0], r), (col, means[1], at)):
                if scale is None:
                    continue
                term = scale[span]
                if mean is not None:
                    term = term * (self.logits.diagonal(k) - mean[span]).exp()
                value = value + term
            g.diagonal(k).add_(value)
        return g

    def add_uniform_grad(self, g: Tensor, row: Tensor | None, col: Tensor | None) -> Tensor:
        """``g + (row_i + col_j)`` on every pair of the denominator (label smoothing)."""
        factor = 0
        if row is not None:
            factor = row[:, None]
        if col is not None:
            factor = factor + col[None, :]
        if self.out is None:
            return g + factor
        return g + torch.where(self.out, 0.0, factor)


def _block(
    logits: Tensor,
    layout: Layout,
    a: int,
    b: int,
    c: int,
    d: int,
    checks: list[Tensor] | None = None,
    labels: bool = False,
    *,
    fresh: bool = True,
    inv_t: Tensor | None = None,
    limit: Tensor | None = None,
) -> _Block:
    """Positives and denominator of the block ``[a:b, c:d]`` with the given logits.

    ``labels``: the target weights are binary labels, clipped to [0, 1] (sigmoid). Targets
    not known valid (a user comparator) add a flag to ``checks`` (the forward pass's).
    The layout's adjustments (:func:`_adjust`) move ``fresh`` logits in place (kept ones
    already are) with the block's ``inv_t``; ``limit``: its anchors' top-k thresholds."""
    block = _positives(logits, layout, a, b, c, d, checks, labels)
    if layout.adjust.active:
        _adjust(block, layout.adjust, (a, b, c, d), checks, fresh, inv_t, limit)
    return block


def _adjust(
    block: _Block,
    adjust: Adjust,
    span: tuple[int, int, int, int],
    checks: list[Tensor] | None,
    fresh: bool,
    inv_t: Tensor | None,
    limit: Tensor | None,
) -> None:
    """Apply margins, negative weights and a top-k limit to a block (see
    :mod:`contrastor.engine.adjust`): logits move only when ``fresh``; masks always."""
    a, b, c, d = span
    rows, cols = slice(a, b), slice(c, d)
    logits = block.logits
    if adjust.margin is not None:
        positive = block.positive_mask().to(logits.dtype)
        margin = adjust.margin
        if isinstance(margin, Targets):
            part = margin.block(rows, cols).to(device=logits.device, dtype=logits.dtype)
            if checks is not None and not margin.trusted:
                checks.append(finite_nonnegative(part))
            block.margins = part * positive
        else:
            block.margins = positive * float(margin)
        if fresh:
            logits.sub_(rows_scaled(block.margins, inv_t))
    if adjust.negative_weights is not None:
        weights = adjust.negative_weights.block(rows, cols)
        weights = weights.to(device=logits.device, dtype=logits.dtype)
        if checks is not None and not adjust.negative_weights.trusted:
            checks.append(finite_nonnegative(weights))
        negative = block.negative_mask()
        if fresh:
            tiny = torch.finfo(logits.dtype).tiny
            logits.add_(torch.where(negative, weights.clamp_min(tiny).log(), 0.0))
        block.exclude(negative & (weights == 0))
    if limit is not None:
        block.exclude(block.negative_mask() & (logits < limit[:, None]))


def _positives(
    logits: Tensor,
    layout: Layout,
    a: int,
    b: int,
    c: int,
    d: int,
    checks: list[Tensor] | None,
    labels: bool,
) -> _Block:
    """The block's positives and the pairs its targets leave out (see :func:`_block`)."""
    own = None if layout.self_offset is None else _diagonal(layout.self_offset, a, b, c, d)
    shape, device = logits.shape, logits.device
    if _on_diagonals(layout):
        diagonals = _local(layout.targets.diagonals, a, b, c, d)
        excluded = ((own,) if own is not None else ()) + (diagonals if layout.decoupled else ())
        out = _on_diagonal(excluded, *shape, device) if excluded else None
        return _Block(logits, None, diagonals, out, layout.decoupled)
    weights = layout.targets.block(slice(a, b), slice(c, d))
    weights = weights.to(device=device, dtype=logits.dtype)
    if checks is not None and not layout.targets.trusted:
        checks.append(finite_nonnegative(weights))
    if labels:
        weights = weights.clamp(0.0, 1.0)
    out = None
    if own is not None:
        out = _on_diagonal((own,), *shape, device)
        weights = weights.masked_fill(out, 0.0)
    if layout.decoupled:
        out = (weights > 0) if out is None else out | (weights > 0)
    return _Block(logits, weights, (), out)


def _on_diagonals(layout: Layout) -> bool:
    """Whether the positives are located by their diagonals (not apart from the self pair)."""
    diagonals = layout.targets.diagonals
    return bool(diagonals) and layout.self_offset not in diagonals


def _local(offsets: tuple[int, ...], a: int, b: int, c: int, d: int) -> tuple[int, ...]:
    """Block-local offsets of the diagonals that cross the block ``[a:b, c:d]``."""
    found = (_diagonal(k, a, b, c, d) for k in offsets)
    return tuple(k for k in found if k is not None)


def _add_temperature_share(sums: _Sums, inv_t: Tensor, start: int, per_row: Tensor) -> None:
    """Fold a block's per-row share of ``d/d(1/tau)`` into ``sums``: row by row for a
    temperature per query (rows from ``start``), summed for a shared one."""
    if inv_t.ndim:
        sums.add(start, per_row)
    else:
        sums.add(0, per_row.sum())


def _part(x: Tensor | None, a: int, b: int) -> Tensor | None:
    """``x[a:b]``, or ``x`` itself when that is all of it (one op fewer per block); ``None``
    (an absent gradient) stays ``None``."""
    if x is None or (a == 0 and b == x.shape[0]):
        return x
    return x[a:b]


def _cast(x: Tensor, dtype: torch.dtype) -> Tensor:
    return x if x.dtype == dtype else x.to(dtype)


class _Sums:
    """Per-range partial results summed as blocks arrive (``merge`` combines two), then
    joined in order: a range seen once costs no addition and no copy."""

    def __init__(self, merge: Any = torch.add) -> None:
        self.parts: dict[int, Tensor] = {}
        self.merge = merge

    def add(self, start: int, value: Tensor) -> None:
        old = self.parts.get(start)
        self.parts[start] = value if old is None else self.merge(old, value)

    def result(self) -> Tensor:
        parts = [self.parts[k] for k in sorted(self.parts)]
        return parts[0] if len(parts) == 1 else torch.cat(parts)


class _Online:
    """Running log-sum-exp, target-weighted logit sum and target mass of some anchors
    (``single``: every anchor is known to have exactly one positive; no mass is kept);
    ``inside``: the positives' log-sum-exp instead of their sum (``positive_mode="in"``);
    ``smoothing``: also the sum and size of each denominator (label smoothing)."""

    def __init__(
        self,
        single: bool = False,
        shift: float | None = None,
        inside: bool = False,
        smoothing: float = 0.0,
    ) -> None:
        merge = torch.logaddexp if shift is None else torch.add
        self.single, self.shift = single, shift
        self.inside, self.smoothing = inside and not single, smoothing
        self.lse, self.count = _Sums(merge), _Sums()
        self.positive = _Sums(torch.logaddexp if self.inside else torch.add)
        self.denominator, self.size = _Sums(), _Sums()

    def update(self, start: int, block: _Block, dim: int, shifted: Tensor | None) -> None:
        """Fold in a block whose anchors lie along ``1 - dim`` (``dim``: the reduced axis);
        ``shifted``: the block's ``exp(l - shift)``, summed instead of a log-sum-exp."""
        if shifted is None:
            self.lse.add(start, block.log_partition(dim))
        else:
            self.lse.add(start, shifted.sum(dim))
        positive, count = block.positive_sums(dim, not self.single, self.inside)
        self.positive.add(start, positive)
        if count is not None:
            self.count.add(start, count)
        if self.smoothing:
            total, size = block.denominator_sums(dim)
            self.denominator.add(start, total)
            self.size.add(start, size)

    def result(self) -> tuple[Tensor, Tensor, Tensor | None, Tensor | None]:
        """``(lse, positive statistic, target mass, denominator size)``: the statistic is the
        positives' weighted mean logit ("out"), their log-mean-exp ("in"), mixed with the
        denominator's mean logit under smoothing."""
        lse = self.lse.result()
        if self.shift is not None:
            lse = lse.log().add_(self.shift)
        count = None if self.single else self.count.result()
        if count is None:
            mean = self.positive.result()
        elif self.inside:
            mean = torch.where(count > 0, self.positive.result() - count.log(), 0.0)
        else:
            mean = self.positive.result() / count.clamp_min(torch.finfo(count.dtype).tiny)
        if not self.smoothing:
            return lse, mean, count, None
        size = self.size.result()
        uniform = self.denominator.result() / size.clamp_min(1.0)
        return lse, torch.lerp(mean, uniform, self.smoothing), count, size


def _check_targets(checks: list[Tensor]) -> None:
    if checks:
        ok = torch.stack(checks).all()
        require((ok, "targets (a comparator's output) must be finite and non-negative"))


class _Gradients:
    """Gradients of the raw queries, references and 1/tau, summed over blocks in float32.

    With ``G = dL/dl`` the block products give ``D^q_i = row_i sum_j G_ij col_j r_j`` and
    ``D^r_j = col_j sum_i G_ij row_i q_i`` (for low-precision operands the scales multiply
    ``G`` first); ``S_i = q_i . D^q_i = sum_j G_ij l_ij``. Then ``dL/d(1/tau_i) = S_i tau_i``,
    and cosine similarity adds the norms' share ``dq_i = D^q_i - S_i q_i / |q_i|^2`` (rows
    shorter than eps get no gradient, as :class:`~contrastor.engine.similarity.UnitRows`),
    ``dr_j`` likewise.
    """

    def __init__(self, ops: Operands) -> None:
        self.ops = ops
        self.q, self.r = _Sums(), _Sums()

    def add(self, g: Tensor, a: int, b: int, c: int, d: int) -> None:
        """Fold in ``dL/dl`` of the block ``[a:b, c:d]`` (``g`` may be scaled in place)."""
        ops = self.ops
        g = ops.post_scaled(g, a, b, c, d)
        self.q.add(a, matmul(_cast(g, ops.ra.dtype), _part(ops.ra, c, d)))
        self.r.add(c, matmul(_cast(g.T, ops.qa.dtype), _part(ops.qa, a, b)))

    def result(
        self, want_t: bool, q_dtype: torch.dtype, r_dtype: torch.dtype
    ) -> tuple[Tensor | None, ...]:
        ops = self.ops
        grad_q, grad_r = self.q.result(), self.r.result()
        if not ops.low:
            grad_q = rows_scaled(grad_q, ops.row)
            if ops.col is not None:
                grad_r = rows_scaled(grad_r, ops.col)
        normalize = ops.q_norm is not None
        along = torch.linalg.vecdot(ops.query, grad_q) if want_t or normalize else None
        grad_t = None
        if want_t:
            per_row = along / ops.inv_t
            grad_t = _cast(per_row if ops.inv_t.ndim else per_row.sum(), ops.inv_t.dtype)
        if normalize:
            grad_q = _without_norm_share(grad_q, ops.query, ops.q_norm, along)
            along_r = torch.linalg.vecdot(ops.reference, grad_r)
            grad_r = _without_norm_share(grad_r, ops.reference, ops.r_norm, along_r)
        return _cast(grad_q, q_dtype), _cast(grad_r, r_dtype), grad_t


def _without_norm_share(grad: Tensor, x: Tensor, norm: Tensor, along: Tensor) -> Tensor:
    """``grad - (along / |x|^2) x`` row-wise: the share of a row's norm in the gradient of
    a normalised row; zero for rows at the ``eps`` clamp, as :class:`UnitRows`."""
    coef = (along / norm.square()).unsqueeze_(1)
    return torch.addcmul(grad, x, coef, value=-1.0).masked_fill_((norm <= EPS).unsqueeze_(1), 0.0)


def _defined_everywhere(layout: Layout, n: int, m: int, transposed: bool) -> bool:
    """Whether every anchor is known, from the layout alone, to have a positive and a
    non-empty denominator (positives on diagonals covering every row, fewer exclusions per
    row than references); then the per-anchor masks and checks are skipped."""
    if not _on_diagonals(layout) or layout.adjust.negative_weights is not None:
        return False
    offsets = [-k for k in layout.targets.diagonals] if transposed else layout.targets.diagonals
    if transposed:
        n, m = m, n
    excluded = (layout.self_offset is not None) + layout.decoupled * len(offsets)
    if m <= excluded:
        return False
    covered = 0
    for start, stop in sorted((max(0, -k), min(n, m - k)) for k in offsets):
        if start > covered:
            return False
        covered = max(covered, stop)
    return covered >= n


def _anchor_terms(
    lse: Tensor, positive_mean: Tensor, count: Tensor | None, everywhere: bool
) -> tuple[Tensor, ...]:
    """Per-anchor ``(loss, positive term, negative term, mask)`` from the statistics: the
    positive term is ``-sum_j Pn_ij l_ij``, the negative term the log-sum-exp; anchors
    without positives contribute 0 (deferred checks: some anchor has a positive, and every
    anchor with one has a negative). ``everywhere``: every anchor is known to have both."""
    if everywhere:
        positive = -positive_mean
        return positive + lse, positive, lse, torch.ones_like(lse, dtype=torch.bool)
    mask = count > 0
    require(
        (mask.any(), "no anchor has a positive in this batch: the loss is undefined"),
        (
            ~(mask & torch.isneginf(lse)).any(),
            "an anchor has no negatives to contrast with (batch too small for this loss)",
        ),
    )
    positive = torch.where(mask, -positive_mean, 0.0)
    negative = torch.where(mask, lse, 0.0)
    return positive + negative, positive, negative, mask


class BlockSoftmax(torch.autograd.Function):
    """Per-anchor ``(loss, positive term, negative term, mask)`` of the softmax objective
    over blocks (:func:`_anchor_terms`); all three values are differentiable.

    With ``both=True`` the same blocks also give the four outputs of the references as
    anchors (the reverse direction of a symmetric loss, ``P.T``): both directions, one pass.
    """

    @staticmethod
    def forward(
        ctx: Any,
        query: Tensor,
        reference: Tensor,
        inv_t: Tensor,
        layout: Layout,
        both: bool = False,
        *params: Tensor,
    ) -> tuple[Tensor, ...]:
        n, m = query.shape[0], reference.shape[0]
        if layout.score is None:
            ops = Operands(query, reference, inv_t, layout.normalize)
        else:
            ops = ScoreOperands(query, reference, inv_t, layout.score)
        adjust = layout.adjust
        if both and adjust.top_k is not None:
            raise ValueError("top-k negatives are selected per direction: call each one")
        everywhere = layout.defined[: 1 + both]
        # defined everywhere with one diagonal of positives: one positive per anchor
        single = [full and len(layout.targets.diagonals) == 1 for full in everywhere]
        shift = _shift(layout, both)
        inside = adjust.positive_mode == "in"
        states = [_Online(one, shift, inside, adjust.smoothing) for one in single]
        rows_state, cols_state = states[0], (states[1] if both else None)
        checks = []
        limits, kept = _top_k_limits(ops, layout, checks)
        reused = iter(kept)
        kept = []
        for a, b, c, d in _blocks(n, m, layout.tile):
            logits = next(reused, None)
            fresh = logits is None
            logits = ops.logits(a, b, c, d) if fresh else logits
            block = _block(
                logits,
                layout,
                a,
                b,
                c,
                d,
                checks,
                fresh=fresh,
                inv_t=ops.inverse_temperature(a, b),
                limit=None if limits is None else limits[a:b],
            )
            shifted = None if shift is None else torch.sub(block.logits, shift).exp_()
            rows_state.update(a, block, 1, shifted)
            if cols_state is not None:
                cols_state.update(c, block, 0, shifted)
            if layout.keep:
                kept.append(block.logits)
        _check_targets(checks)
        stats = [rows_state.result()] + ([cols_state.result()] if both else [])
        outputs = [
            term
            for (lse, mean, count, _), full in zip(stats, everywhere, strict=True)
            for term in _anchor_terms(lse, mean, count, full)
        ]
        # lse, mean (read by "in" only), target mass, denominator size per direction
        saved = [
            stat if k != 1 or inside else None
            for direction in stats
            for k, stat in enumerate(direction)
        ]
        ctx.save_for_backward(*ops.saved(), limits, *saved, *params)
        ctx.config = (layout, both, query.dtype, reference.dtype, len(params))
        ctx.kept = kept
        ctx.mark_non_differentiable(*outputs[3::4])
        ctx.set_materialize_grads(False)
        return tuple(outputs)

    @staticmethod
    def backward(ctx: Any, *grads: Tensor) -> tuple[Tensor | None, ...]:
        layout, both, q_dtype, r_dtype, n_params = ctx.config
        everywhere, smoothing = layout.defined, layout.adjust.smoothing
        saved = ctx.saved_tensors
        params = saved[len(saved) - n_params :]
        saved = saved[: len(saved) - n_params]
        fields = len(Operands.FIELDS)
        limits = saved[fields]
        if layout.score is None:
            ops = Operands.restore(saved[:fields])
        else:
            ops = ScoreOperands.restore(saved[:fields], layout.score)
        saved = saved[fields + 1 :]
        kept = iter(ctx.kept)
        lse, means, count, size = (saved[k::4] for k in range(4))
        tiny = torch.finfo(lse[0].dtype).tiny
        # loss = positive + negative: d/d(lse) = g_loss + g_negative, d/d(mean) = -(g_loss
        # + g_positive), both zero for anchors without positives; unused outputs have none.
        # Smoothing splits d/d(mean) into the targets' share (1 - eps) and the denominator's.
        g_lse, per_target, uniform = [], [], []
        for k, c in enumerate(count):
            g_loss, g_pos, g_neg = grads[4 * k : 4 * k + 3]
            lse_grad, mean_grad = _plus(g_loss, g_neg), _plus(g_loss, g_pos)
            spread = None
            if mean_grad is not None:
                if smoothing:
                    spread = -smoothing * mean_grad / size[k].clamp_min(1.0)
                    mean_grad = mean_grad * (1.0 - smoothing)
                mean_grad = -mean_grad if c is None else -mean_grad / c.clamp_min(tiny)
            if not everywhere[k]:
                mask = c > 0
                lse_grad, mean_grad, spread = (
                    None if g is None else torch.where(mask, g, 0.0)
                    for g in (lse_grad, mean_grad, spread)
                )
            g_lse.append(lse_grad)
            per_target.append(mean_grad)
            uniform.append(spread)
        if all(g is None for g in (*g_lse, *per_target)):
            return (None,) * (5 + n_params)
        n, m = ops.query.shape[0], ops.reference.shape[0]
        want_t = ctx.needs_input_grad[2]
        out = _Gradients(ops) if layout.score is None else _ScoreGradients(ops, params, want_t)
        margin_share = _Sums() if want_t and layout.adjust.margin is not None else None
        with no_autocast(ops.query.device.type):
            for a, b, c, d in _blocks(n, m, layout.tile):
                logits = next(kept) if layout.keep else ops.logits(a, b, c, d)
                block = _block(
                    logits,
                    layout,
                    a,
                    b,
                    c,
                    d,
                    fresh=not layout.keep,
                    inv_t=ops.inverse_temperature(a, b),
                    limit=None if limits is None else limits[a:b],
                )
                g = _denominator_grad(block, lse, g_lse, (a, b, c, d), m, _shift(layout, both))
                spans = ((a, b), (c, d))[: 1 + both]
                g = block.add_positive_grad(
                    g,
                    *_spanned(per_target, spans),
                    _spanned(means, spans),
                )
                if smoothing:
                    g = block.add_uniform_grad(g, *_spanned(uniform, spans))
                if margin_share is not None:
                    _add_temperature_share(margin_share, ops.inv_t, a, (g * block.margins).sum(1))
                out.add(g, a, b, c, d)
        grad_q, grad_r, grad_t = out.result(want_t, q_dtype, r_dtype)
        if margin_share is not None:
            grad_t = grad_t - _cast(margin_share.result(), grad_t.dtype)
        extra = tuple(out.param_grads) if n_params else ()
        return (grad_q, grad_r, grad_t, None, None, *extra)


def _spanned(
    values: list[Tensor | None], spans: tuple[tuple[int, int], ...]
) -> tuple[Tensor | None, Tensor | None]:
    """Per-direction values over a block's rows and columns (``None`` where absent)."""
    parts = [None if v is None else _part(v, *span) for v, span in zip(values, spans, strict=False)]
    first, second, *_ = [*parts, None, None]
    return first, second


def _top_k_limits(
    ops: Operands, layout: Layout, checks: list[Tensor]
) -> tuple[Tensor | None, list[Tensor]]:
    """Each anchor's k-th largest negative logit (after weights and margins; ``-inf`` with
    fewer than k negatives), from a first pass over the blocks, and, on the dense path, the
    adjusted blocks for the second pass. ``(None, [])`` without ``top_k``."""
    k = layout.adjust.top_k
    if k is None:
        return None, []
    n, m = ops.query.shape[0], ops.reference.shape[0]
    best: dict[int, Tensor] = {}
    kept = []
    for a, b, c, d in _blocks(n, m, layout.tile):
        inv_t = ops.inverse_temperature(a, b)
        block = _block(ops.logits(a, b, c, d), layout, a, b, c, d, checks, inv_t=inv_t)
        negatives = block.logits.masked_fill(~block.negative_mask(), -torch.inf)
        old = best.get(a)
        best[a] = _largest(negatives if old is None else torch.cat([old, negatives], 1), k)
        if layout.keep:
            kept.append(block.logits)
    values = torch.cat([best[a] for a in sorted(best)])
    if values.shape[1] < k:
        return torch.full_like(values[:, 0], -torch.inf), kept
    return values[:, k - 1].contiguous(), kept


def _largest(values: Tensor, k: int) -> Tensor:
    """The ``k`` largest values of each row, descending (all of them when fewer)."""
    return values.topk(min(k, values.shape[1]), dim=1).values


def _plus(x: Tensor | None, y: Tensor | None) -> Tensor | None:
    """``x + y`` of two optional gradients (``None``: zero)."""
    if x is None or y is None:
        return y if x is None else x
    return x + y


def _shift(layout: Layout, both: bool) -> float | None:
    """The layout's shift where the kernel uses it: symmetric calls, whose two directions
    share each exponential."""
    return layout.shift if both else None


def _denominator_grad(
    block: _Block,
    lse: list[Tensor],
    g_lse: list[Tensor | None],
    span: tuple[int, int, int, int],
    width: int,
    shift: float | None = None,
) -> Tensor:
    """``sum_dir g^lse_dir softmax_dir`` over a block (rows, and columns for a symmetric
    call): the softmax is ``exp(l - lse)`` with the forward pass's log-sum-exp, or, for a
    block holding whole rows of ``width`` columns, the fused row softmax of the block. With
    a ``shift`` M, one exponential serves both directions:
    ``exp(l_ij - M) (g_i e^{M - lse_i} + g_j e^{M - lse_j})``."""
    a, b, c, d = span
    if shift is not None:
        scale = None
        for k, (start, stop) in enumerate(((a, b), (c, d))):
            if g_lse[k] is None:
                continue
            factor = torch.rsub(_part(lse[k], start, stop), shift).exp_()
            factor = factor.mul_(_part(g_lse[k], start, stop)).view((-1, 1) if k == 0 else (1, -1))
            scale = factor if scale is None else scale + factor
        if scale is None:
            return torch.zeros_like(block.logits)
        return torch.sub(block.logits, shift).exp_().mul_(scale)
    whole_rows = block.out is None and c == 0 and d == width
    g = None
    for k, (start, stop) in enumerate(((a, b), (c, d))[: len(g_lse)]):
        if g_lse[k] is None:
            continue
        shape = (-1, 1) if k == 0 else (1, -1)
        if k == 0 and whole_rows:
            term = torch.softmax(block.logits, 1)
        else:
            term = torch.sub(block.logits, _part(lse[k], start, stop).view(shape)).exp_()
        term.mul_(_part(g_lse[k], start, stop).view(shape))
        g = term if g is None else g.add_(term)
    if g is None:
        return torch.zeros_like(block.logits)
    return g if block.out is None else g.masked_fill_(block.out, 0.0)


def _sigmoid_terms(block: _Block) -> tuple[Tensor, Tensor, Tensor]:
    """Per-row ``sum_j y softplus(-l)``, ``sum_j (1 - y) softplus(l)`` and ``sum_j y``, from
    ``softplus(-l) = softplus(l) - l``; positives on diagonals cost no dense label block."""
    logits, y = block.logits, block.weights
    every = F.softplus(logits)
    if block.out is not None:
        every = every.masked_fill(block.out, 0.0)
    if y is not None:
        positive = (y * every).sum(1) - (y * logits).sum(1)
        return positive, every.sum(1) - (y * every).sum(1), y.sum(1)
    k = block._one_positive(1)
    if k is not None:
        softplus = every.diagonal(k)
        return softplus - logits.diagonal(k), every.sum(1) - softplus, torch.ones_like(softplus)
    rows, cols = logits.shape
    positive, on_positives, count = (logits.new_zeros(rows) for _ in range(3))
    for k in block.diagonals:
        r = _rows_of(k, rows, cols)
        softplus = every.diagonal(k)
        positive[r] += softplus - logits.diagonal(k)
        on_positives[r] += softplus
        count[r] += 1.0
    return positive, every.sum(1) - on_positives, count


def _sigmoid_grad(block: _Block, grad_pos: Tensor, grad_neg: Tensor) -> Tensor:
    """``dL/dl = g_neg (1 - y) sigma(l) - g_pos y (1 - sigma(l))`` over the compared pairs."""
    sig = torch.sigmoid(block.logits)
    y = block.weights
    if y is not None:
        g = grad_neg[:, None] * (1.0 - y) * sig - grad_pos[:, None] * y * (1.0 - sig)
    else:
        g = sig * grad_neg.unsqueeze(1)
        for k in block.diagonals:
            r = _rows_of(k, *g.shape)
            g.diagonal(k).copy_((sig.diagonal(k) - 1.0) * grad_pos[r])
    return g if block.out is None else g.masked_fill(block.out, 0.0)


class BlockSigmoid(torch.autograd.Function):
    """Per-anchor pairwise-sigmoid terms ``(positive, negative, label mass)`` over blocks:
    ``positive_i = sum_j y_ij softplus(-l_ij)``, ``negative_i = sum_j (1 - y_ij) softplus(l_ij)``.
    """

    @staticmethod
    def forward(
        ctx: Any, query: Tensor, reference: Tensor, inv_t: Tensor, bias: Tensor, layout: Layout
    ) -> tuple[Tensor, Tensor, Tensor]:
        n, m = query.shape[0], reference.shape[0]
        ops = Operands(query, reference, inv_t, layout.normalize)
        positive, negative, count = _Sums(), _Sums(), _Sums()
        kept, checks = [], []
        for a, b, c, d in _blocks(n, m, layout.tile):
            logits = ops.logits(a, b, c, d).add_(bias)
            block = _block(logits, layout, a, b, c, d, checks, labels=True)
            pos, neg, mass = _sigmoid_terms(block)
            count.add(a, mass)
            positive.add(a, pos)
            negative.add(a, neg)
            if layout.keep:
                kept.append(logits)
        _check_targets(checks)
        ctx.save_for_backward(*ops.saved(), bias)
        ctx.config = (layout, query.dtype, reference.dtype)
        ctx.kept = kept
        outputs = positive.result(), negative.result(), count.result()
        ctx.mark_non_differentiable(outputs[2])
        return outputs

    @staticmethod
    def backward(
        ctx: Any, grad_pos: Tensor, grad_neg: Tensor, _grad_count: Tensor
    ) -> tuple[Tensor | None, ...]:
        *saved, bias = ctx.saved_tensors
        ops = Operands.restore(saved)
        layout, q_dtype, r_dtype = ctx.config
        kept = iter(ctx.kept)
        n, m = ops.query.shape[0], ops.reference.shape[0]
        out = _Gradients(ops)
        grad_b = _Sums() if ctx.needs_input_grad[3] else None
        with no_autocast(ops.query.device.type):
            for a, b, c, d in _blocks(n, m, layout.tile):
                logits = next(kept) if layout.keep else ops.logits(a, b, c, d).add_(bias)
                block = _block(logits, layout, a, b, c, d, labels=True)
                g = _sigmoid_grad(block, _part(grad_pos, a, b), _part(grad_neg, a, b))
                if grad_b is not None:
                    grad_b.add(0, g.sum())
                out.add(g, a, b, c, d)
        grad_q, grad_r, grad_t = out.result(ctx.needs_input_grad[2], q_dtype, r_dtype)
        grad_b = None if grad_b is None else _cast(grad_b.result(), bias.dtype)
        return grad_q, grad_r, grad_t, grad_b, None
