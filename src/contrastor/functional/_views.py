"""A multi-view batch ready for view-aware objectives: stacked anchors, the gathered
references, which references are the same sample (or the same class), and the logits between
the views of each sample."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from contrastor._validation import check_labels
from contrastor.engine.similarity import prepare
from contrastor.engine.targets import LabelTargets, view_diagonals
from contrastor.engine.views import stack_views
from contrastor.functional._common import gather_prepared
from contrastor.scale.distributed import LOCAL, Exchange

Views = Tensor | Sequence[Tensor]


@dataclass
class ViewBatch:
    """``z``: ``(V*n, d)`` local anchors, view-major; ``everyone``: the anchors of all ranks;
    ``self_offset``: the row of the first anchor in ``everyone``; ``same_sample`` / ``same_class``:
    targets marking the other views of the same sample / of the same class (``None``
    without labels); ``own_views``: ``(V, n, d)`` view of ``z``."""

    z: Tensor
    everyone: Tensor
    n: int
    views: int
    self_offset: int
    same_sample: LabelTargets
    same_class: LabelTargets | None
    exchange: Exchange

    @property
    def own_views(self) -> Tensor:
        return self.z.reshape(self.views, self.n, -1)

    def per_sample(self, values: Tensor) -> Tensor:
        """``(V*n, ...)`` values of the stacked anchors as ``(n, V, ...)``."""
        return values.reshape(self.views, self.n, *values.shape[1:]).transpose(0, 1)

    def view_logits(self, inverse_temperature: Tensor) -> Tensor:
        """``(n, V, V)`` logits ``s(z_i^v, z_i^w) / tau`` between the views of each sample."""
        z = self.own_views
        return torch.einsum("vnd,wnd->nvw", z, z) * inverse_temperature

    def same_count(self, targets: LabelTargets) -> Tensor:
        """``(V*n,)`` number of gathered rows sharing each anchor's label (itself included)."""
        ordered = torch.sort(targets.reference_labels).values
        q = targets.query_labels
        return torch.searchsorted(ordered, q, right=True) - torch.searchsorted(ordered, q)


def view_batch(
    features: Views,
    *,
    similarity: str,
    labels: Tensor | None = None,
    exchange: Exchange | None = None,
    min_views: int = 2,
) -> ViewBatch:
    """Stack, prepare and gather a multi-view batch (``(n, V, d)`` or a list of ``(n, d)``)."""
    stacked, n, views = stack_views(features, "features")
    if views < min_views:
        raise ValueError(f"this loss needs at least {min_views} views, got {views}")
    ex = exchange or LOCAL
    z = prepare(stacked, similarity)
    first = ex.offset(n * views)
    same_class = None
    if labels is not None:
        check_labels(labels, n)
        if labels.ndim != 1:
            raise ValueError("this loss takes class ids (1-D labels)")
        rows = labels.to(z.device).repeat(views)
        same_class = LabelTargets(rows, ex.gather(rows))
    return ViewBatch(
        z=z,
        everyone=gather_prepared(ex, stacked, z, similarity),
        n=n,
        views=views,
        self_offset=first,
        same_sample=same_sample_targets(n, views, ex, z.device),
        same_class=same_class,
        exchange=ex,
    )


def same_sample_targets(
    n: int, views: int, exchange: Exchange, device: torch.device
) -> LabelTargets:
    """The other views of the same sample as positives, for ``views`` view-major stacks of
    ``n`` local samples against the gathered views of all ranks (sample ids are global; one
    process also locates them by their diagonals)."""
    ids = (torch.arange(n, device=device) + exchange.offset(n)).repeat(views)
    diagonals = view_diagonals(n, views) if exchange.world_size == 1 else ()
    return LabelTargets(ids, exchange.gather(ids), diagonals)


def off_diagonal_mask(views: int, device: torch.device) -> Tensor:
    """``(V, V)`` bool mask of view pairs ``v != w``."""
    return ~torch.eye(views, dtype=torch.bool, device=device)
