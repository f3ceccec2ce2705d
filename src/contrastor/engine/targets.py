"""Targets: which (query i, reference j) pairs are positives, and how much.

A target is a non-negative weight matrix ``P`` of shape ``(n, m)``; ``P[i, j] > 0`` makes j a
positive of i. It is never required in full: objectives ask for blocks ``P[rows, cols]``,
so the same descriptor serves the dense path and a streamed (tiled) one.

- :class:`LabelTargets`: equal class ids; :class:`AlignedTargets`: index-aligned pairs.
- :class:`MultiLabelTargets`: overlapping multi-hot label sets ("any" overlap or Jaccard).
- :class:`ComparatorTargets`: a user function of two label blocks.
- :class:`SoftTargets`: an explicit soft weight matrix.
- :class:`ViewTargets`: a sample-level target repeated over stacked views.
- :class:`UniformTargets`: every pair weighted 1 (a plain log-partition).
- :class:`WeightedSum`: a weighted sum of targets of one shape; :class:`Columns`: targets
  side by side over concatenated references.
- :class:`HierarchyTargets`: graded by the depth of the deepest shared ancestor in a label tree.
- :class:`ClusterWeights`: one weight within a cluster, another across (negative weights).
- :class:`WindowTargets`: same sequence and at most ``window`` steps apart.
"""

from __future__ import annotations

import functools
from abc import ABC, abstractmethod
from collections.abc import Callable

import torch
from torch import Tensor

from contrastor._validation import check_labels, finite_nonnegative, require

Comparator = Callable[[Tensor, Tensor], Tensor]


class Targets(ABC):
    """Positive weights between ``n`` queries and ``m`` references, available block by block."""

    shape: tuple[int, int]
    #: offsets ``k`` when ``P[i, j] = 1`` exactly for ``j = i + k`` with ``k`` among them and 0
    #: elsewhere (index-aligned pairs, the other views of a sample): the engine then locates
    #: positives by index arithmetic instead of building weight blocks
    diagonals: tuple[int, ...] = ()
    #: whether every block is known to be finite and non-negative (else checked as it streams)
    trusted: bool = True

    @abstractmethod
    def block(self, rows: slice, cols: slice) -> Tensor:
        """Weights ``P[rows, cols]`` as a float tensor (>= 0)."""

    @abstractmethod
    def transpose(self) -> Targets:
        """The same relation seen from the references (``P.T``)."""

    def dense(self) -> Tensor:
        """The whole ``(n, m)`` matrix (the dense path)."""
        return self.block(slice(0, self.shape[0]), slice(0, self.shape[1]))


class LabelTargets(Targets):
    """``P[i, j] = 1`` when ``query_labels[i] == reference_labels[j]``; ``diagonals`` may
    say where those pairs lie when the labels are positions (see :class:`Targets`)."""

    def __init__(
        self, query_labels: Tensor, reference_labels: Tensor, diagonals: tuple[int, ...] = ()
    ) -> None:
        self.query_labels = query_labels
        self.reference_labels = reference_labels
        self.shape = (query_labels.shape[0], reference_labels.shape[0])
        self.diagonals = diagonals

    @classmethod
    def aligned(
        cls, n: int, m: int, device: torch.device | None = None, offset: int = 0
    ) -> AlignedTargets:
        """Query i's positive is reference ``offset + i``; the other references are negatives."""
        if offset + n > m:
            raise ValueError(
                f"index-aligned pairs need at least as many references as queries, got {n} > {m}"
            )
        return AlignedTargets(n, m, offset, device)

    def block(self, rows: slice, cols: slice) -> Tensor:
        eq = self.query_labels[rows, None] == self.reference_labels[None, cols]
        return eq.to(torch.get_default_dtype())

    def transpose(self) -> LabelTargets:
        diagonals = tuple(-k for k in self.diagonals)
        return LabelTargets(self.reference_labels, self.query_labels, diagonals)


class AlignedTargets(LabelTargets):
    """``P[i, j] = 1`` exactly when ``j = i + offset`` (any sign): the labels are positions,
    built only if a block is asked for (the engine reads ``diagonals``)."""

    def __init__(self, n: int, m: int, offset: int = 0, device: torch.device | None = None) -> None:
        self.shape, self.offset, self.device = (n, m), offset, device
        self.diagonals = (offset,)

    @functools.cached_property
    def query_labels(self) -> Tensor:
        return torch.arange(self.offset, self.offset + self.shape[0], device=self.device)

    @functools.cached_property
    def reference_labels(self) -> Tensor:
        return torch.arange(self.shape[1], device=self.device)

    def transpose(self) -> AlignedTargets:
        return AlignedTargets(self.shape[1], self.shape[0], -self.offset, self.device)


def view_diagonals(n: int, views: int) -> tuple[int, ...]:
    """Offsets of the other views of each sample among ``views`` view-major stacks of ``n``
    samples: row ``v * n + i`` pairs with ``w * n + i`` for every ``w != v``."""
    return tuple(k * n for k in range(1 - views, views) if k != 0)


class MultiLabelTargets(Targets):
    """Multi-hot label sets. ``mode="any"``: ``P = 1`` if the sets share a label;
    ``mode="jaccard"``: ``P = |A & B| / |A | B|`` (graded positives)."""

    MODES = ("any", "jaccard")

    def __init__(self, query_labels: Tensor, reference_labels: Tensor, mode: str = "any") -> None:
        if mode not in self.MODES:
            raise ValueError(f"multi-label mode must be one of {self.MODES}, got {mode!r}")
        if query_labels.shape[1] != reference_labels.shape[1]:
            raise ValueError("multi-hot labels of queries and references have different widths")
        # float64 keeps overlap counts and Jaccard ratios exact
        self.query_labels = (query_labels > 0).to(torch.float64)
        self.reference_labels = (reference_labels > 0).to(torch.float64)
        self.mode = mode
        self.shape = (query_labels.shape[0], reference_labels.shape[0])

    def block(self, rows: slice, cols: slice) -> Tensor:
        a, b = self.query_labels[rows], self.reference_labels[cols]
        inter = a @ b.T
        if self.mode == "any":
            return (inter > 0).to(inter.dtype)
        union = a.sum(1, keepdim=True) + b.sum(1)[None, :] - inter
        return torch.where(union > 0, inter / union.clamp_min(1.0), torch.zeros_like(inter))

    def transpose(self) -> MultiLabelTargets:
        return MultiLabelTargets(self.reference_labels, self.query_labels, self.mode)


class ComparatorTargets(Targets):
    """``P[rows, cols] = comparator(query_labels[rows], reference_labels[cols])``.

    The comparator receives two label blocks (any per-sample tensors, first dimension = samples)
    and returns a non-negative ``(len(rows), len(cols))`` weight matrix (checked by the engine
    as the blocks stream, one host-device sync per loss call).
    """

    trusted = False

    def __init__(
        self, query_labels: Tensor, reference_labels: Tensor, comparator: Comparator
    ) -> None:
        self.query_labels = query_labels
        self.reference_labels = reference_labels
        self.comparator = comparator
        self.shape = (query_labels.shape[0], reference_labels.shape[0])

    def block(self, rows: slice, cols: slice) -> Tensor:
        a, b = self.query_labels[rows], self.reference_labels[cols]
        out = self.comparator(a, b)
        if not isinstance(out, Tensor) or out.shape != (a.shape[0], b.shape[0]):
            raise ValueError(
                f"comparator must return a ({a.shape[0]}, {b.shape[0]}) tensor of weights"
            )
        return out if out.is_floating_point() else out.to(torch.get_default_dtype())

    def transpose(self) -> ComparatorTargets:
        fn = self.comparator
        return ComparatorTargets(self.reference_labels, self.query_labels, lambda a, b: fn(b, a).T)


class SoftTargets(Targets):
    """An explicit ``(n, m)`` matrix of non-negative target weights."""

    def __init__(self, matrix: Tensor) -> None:
        if matrix.ndim != 2:
            raise ValueError(f"soft targets must be a 2-D matrix, got shape {tuple(matrix.shape)}")
        require((finite_nonnegative(matrix), "soft targets must be finite and non-negative"))
        self.matrix = matrix
        self.shape = (matrix.shape[0], matrix.shape[1])

    def block(self, rows: slice, cols: slice) -> Tensor:
        return self.matrix[rows, cols]

    def transpose(self) -> SoftTargets:
        return SoftTargets(self.matrix.T)


class ViewTargets(Targets):
    """A sample-level target over ``n`` samples repeated for ``views`` stacked views.

    Stacked rows are view-major: row ``v * n + i`` is view v of sample i, so
    ``P[(v, i), (w, j)] = base[i, j]``.
    """

    def __init__(self, base: Targets, views: int) -> None:
        self.base = base
        self.views = views
        self.shape = (base.shape[0] * views, base.shape[1] * views)

    def block(self, rows: slice, cols: slice) -> Tensor:
        n, m = self.base.shape
        return torch.cat(
            [
                torch.cat([self.base.block(r, c) for c in _segments(cols, m)], 1)
                for r in _segments(rows, n)
            ],
            0,
        )

    def transpose(self) -> ViewTargets:
        return ViewTargets(self.base.transpose(), self.views)


class WeightedSum(Targets):
    """``P = sum_k w_k P_k`` of targets of one shape, block by block (e.g. the aligned
    positives plus suspected false negatives at a weight)."""

    def __init__(self, parts: list[tuple[float, Targets]]) -> None:
        shapes = {tuple(part.shape) for _, part in parts}
        if len(shapes) != 1:
            raise ValueError(f"targets to add must share one shape, got {sorted(shapes)}")
        if any(w < 0 for w, _ in parts):
            raise ValueError("target weights must be non-negative")
        self.parts = parts
        self.shape = parts[0][1].shape
        self.trusted = all(part.trusted for _, part in parts)

    def block(self, rows: slice, cols: slice) -> Tensor:
        blocks = [w * part.block(rows, cols) for w, part in self.parts]
        return torch.stack(torch.broadcast_tensors(*blocks)).sum(0)

    def transpose(self) -> WeightedSum:
        return WeightedSum([(w, part.transpose()) for w, part in self.parts])


class Columns(Targets):
    """Targets side by side, ``P = [P_1 | P_2 | ...]``, for references concatenated in the
    same order (e.g. extra references appended to a batch)."""

    def __init__(self, parts: list[Targets]) -> None:
        if len({part.shape[0] for part in parts}) != 1:
            raise ValueError("targets side by side must have the same number of queries")
        self.parts = parts
        self.starts = [0]
        for part in parts:
            self.starts.append(self.starts[-1] + part.shape[1])
        self.shape = (parts[0].shape[0], self.starts[-1])
        self.trusted = all(part.trusted for part in parts)

    def block(self, rows: slice, cols: slice) -> Tensor:
        pieces = []
        for part, start, stop in zip(self.parts, self.starts, self.starts[1:], strict=False):
            lo, hi = max(cols.start, start), min(cols.stop, stop)
            if lo < hi:
                pieces.append(part.block(rows, slice(lo - start, hi - start)))
        return torch.cat(pieces, 1)

    def transpose(self) -> Targets:
        raise ValueError("targets side by side are one-directional (queries against references)")


class UniformTargets(Targets):
    """``P[i, j] = 1`` for every pair: the objective's log-sum-exp is the plain log-partition
    over all compared references."""

    def __init__(self, n: int, m: int, device: torch.device | None = None) -> None:
        self.shape = (n, m)
        self.device = device

    def block(self, rows: slice, cols: slice) -> Tensor:
        return torch.ones(rows.stop - rows.start, cols.stop - cols.start, device=self.device)

    def transpose(self) -> UniformTargets:
        return UniformTargets(self.shape[1], self.shape[0], self.device)


class HierarchyTargets(Targets):
    """Graded positives from a label hierarchy: each sample carries its path of ancestors from
    the root's children down to its leaf, ``(n, L)`` integer ids per level, and

        P[i, j] = (number of leading levels where the paths agree) / L

    so samples sharing the leaf get 1, siblings under a deep parent get more than cousins,
    and samples that differ at the top level get 0 (not positives).
    """

    def __init__(self, query_paths: Tensor, reference_paths: Tensor) -> None:
        for name, paths in (("query_paths", query_paths), ("reference_paths", reference_paths)):
            if paths.ndim != 2 or paths.is_floating_point():
                raise ValueError(f"{name} must be a 2-D integer tensor (samples x levels)")
        if query_paths.shape[1] != reference_paths.shape[1]:
            raise ValueError("query and reference paths have different depths")
        self.query_paths, self.reference_paths = query_paths, reference_paths
        self.shape = (query_paths.shape[0], reference_paths.shape[0])

    def block(self, rows: slice, cols: slice) -> Tensor:
        a, b = self.query_paths[rows], self.reference_paths[cols]
        agree = (a[:, None, :] == b[None, :, :]).to(torch.float64).cumprod(-1)
        return agree.sum(-1) / a.shape[1]

    def transpose(self) -> HierarchyTargets:
        return HierarchyTargets(self.reference_paths, self.query_paths)


class ClusterWeights(Targets):
    """``W[i, j] = same`` when query i and reference j share a cluster id, ``other`` when
    not: as the negative weights of :class:`~contrastor.engine.adjust.Adjust`,
    ``same=eps, other=1`` spares same-cluster negatives (MEOW; gCooL's communities) and
    ``same=1, other=0`` keeps only an anchor's own cluster as negatives (feature-aware
    negatives, "Learning the Unlearned", ECCV 2024). Across ranks, give the gathered
    reference clusters."""

    def __init__(
        self,
        query_clusters: Tensor,
        reference_clusters: Tensor,
        *,
        same: float = 0.0,
        other: float = 1.0,
    ) -> None:
        check_labels(query_clusters, query_clusters.shape[0], "query_clusters")
        check_labels(reference_clusters, reference_clusters.shape[0], "reference_clusters")
        if query_clusters.ndim != 1 or reference_clusters.ndim != 1:
            raise ValueError("cluster ids must be 1-D, one per sample")
        if not (0 <= same < float("inf") and 0 <= other < float("inf")):
            raise ValueError(f"cluster weights must be finite and >= 0, got {same} and {other}")
        self.query_clusters, self.reference_clusters = query_clusters, reference_clusters
        self.same, self.other = float(same), float(other)
        self.shape = (query_clusters.shape[0], reference_clusters.shape[0])

    def block(self, rows: slice, cols: slice) -> Tensor:
        equal = self.query_clusters[rows, None] == self.reference_clusters[None, cols]
        return torch.where(equal, self.same, self.other)

    def transpose(self) -> ClusterWeights:
        return ClusterWeights(
            self.reference_clusters, self.query_clusters, same=self.same, other=self.other
        )


class WindowTargets(Targets):
    """``P[i, j] = 1`` when query i and reference j belong to the same sequence (a
    trajectory, a document, a recording) and their positions differ by at most ``window``
    (and are not the same position): temporal-adjacency positives of time-contrastive
    learning (Sermanet et al., "Time-Contrastive Networks", 2018) and context-window
    sentence positives (sentences within ``window`` of each other in one document). Give
    it as ``targets`` to InfoNCE or SupCon; under DDP, the gathered references' ids."""

    def __init__(
        self,
        query_groups: Tensor,
        query_positions: Tensor,
        reference_groups: Tensor,
        reference_positions: Tensor,
        window: int,
    ) -> None:
        for name, x in (
            ("query_groups", query_groups),
            ("query_positions", query_positions),
            ("reference_groups", reference_groups),
            ("reference_positions", reference_positions),
        ):
            if x.ndim != 1 or x.is_floating_point():
                raise ValueError(f"{name} must be a 1-D integer tensor")
        if query_groups.shape != query_positions.shape:
            raise ValueError("query_groups and query_positions differ in length")
        if reference_groups.shape != reference_positions.shape:
            raise ValueError("reference_groups and reference_positions differ in length")
        if window < 1:
            raise ValueError(f"window must be at least 1, got {window}")
        self.query = (query_groups, query_positions)
        self.reference = (reference_groups, reference_positions)
        self.window = window
        self.shape = (query_groups.shape[0], reference_groups.shape[0])

    def block(self, rows: slice, cols: slice) -> Tensor:
        (qg, qp), (rg, rp) = self.query, self.reference
        gap = (qp[rows, None] - rp[None, cols]).abs()
        near = (qg[rows, None] == rg[None, cols]) & (gap <= self.window) & (gap > 0)
        return near.to(torch.get_default_dtype())

    def transpose(self) -> WindowTargets:
        return WindowTargets(*self.reference, *self.query, self.window)


def _segments(span: slice, size: int) -> list[slice]:
    """Split a range of stacked rows into per-view ranges of sample indices."""
    out, start = [], span.start
    while start < span.stop:
        stop = min(span.stop, (start // size + 1) * size)
        out.append(slice(start % size, start % size + (stop - start)))
        start = stop
    return out


def resolve_targets(
    n: int,
    m: int,
    *,
    labels: Tensor | None = None,
    reference_labels: Tensor | None = None,
    targets: Tensor | Targets | None = None,
    offset: int = 0,
    device: torch.device | None = None,
) -> Targets:
    """Build the target descriptor from what a loss call was given.

    ``targets`` (a matrix or a :class:`Targets`) wins; otherwise ``labels`` (1-D class ids or
    2-D multi-hot, with ``reference_labels`` defaulting to ``labels``); otherwise index-aligned
    pairs (query i with reference ``offset + i``, ``offset`` being where this rank's
    references start among the gathered ones).
    """
    if targets is not None:
        if labels is not None:
            raise ValueError("give either labels or targets, not both")
        result = targets if isinstance(targets, Targets) else SoftTargets(targets)
    elif labels is not None:
        check_labels(labels, n, "labels")
        ref = labels if reference_labels is None else reference_labels
        check_labels(ref, m, "reference_labels")
        if labels.ndim != ref.ndim:
            raise ValueError("labels and reference_labels must both be class ids or both multi-hot")
        result = MultiLabelTargets(labels, ref) if labels.ndim == 2 else LabelTargets(labels, ref)
    else:
        result = LabelTargets.aligned(n, m, device, offset)
    if result.shape != (n, m):
        raise ValueError(f"targets have shape {result.shape} but the batch needs ({n}, {m})")
    return result
