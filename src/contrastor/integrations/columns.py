"""A contrastor loss on a trainer's columns of embeddings.

Trainers hand a loss the embeddings of a batch's columns: ``(anchor, positive)``, then any
hard negatives, and a ``labels`` column when the dataset has one. :func:`columns_loss` feeds
them to any registered loss the way its registry entry says it takes a batch: pairs and
views as ``loss(anchor, positive)`` (hard negatives as ``anchor_negatives``, ``(n, k, d)``,
for the losses that accept them), supervised losses with the labels."""

from __future__ import annotations

import functools
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from contrastor.losses.base import keyword_names
from contrastor.losses.registry import LossSpec, specs

#: the registry feeds a trainer's columns can serve (the others need contrastor's loop:
#: dataset indices, momentum encoders or predictors)
COLUMN_FEEDS = ("pair", "views", "labelled_pair", "labelled_views")


def spec_of(loss: nn.Module) -> LossSpec:
    """The registry entry of a loss module (its exact class first)."""
    return _spec_for(type(loss))


@functools.cache
def _spec_for(kind: type) -> LossSpec:
    found = [s for s in specs() if s.module is kind]
    found = found or [s for s in specs() if s.module is not None and issubclass(kind, s.module)]
    if not found:
        raise ValueError(f"{kind.__name__} is not a registered contrastor loss")
    return found[0]


def columns_loss(
    loss: nn.Module, columns: Sequence[Tensor], labels: Tensor | None = None
) -> Tensor:
    """``loss`` on ``columns`` = ``[anchor, positive, *negatives]`` embeddings ``(n, d)``.

    Raises ``ValueError`` for fewer than two columns, hard negatives given to a loss that
    takes none, a supervised loss without ``labels``, or a loss a trainer cannot feed."""
    if len(columns) < 2:
        raise ValueError(f"need an anchor and a positive column, got {len(columns)} column(s)")
    spec = spec_of(loss)
    feed = spec.feed
    if feed not in COLUMN_FEEDS:
        raise ValueError(
            f"loss {spec.name!r} needs {feed or spec.unfit}: train it with contrastor's own loop"
        )
    anchor, positive, *negatives = columns
    keywords = {}
    if negatives:
        function = getattr(loss, "function", None)
        if function is None or "anchor_negatives" not in keyword_names(function):
            raise ValueError(
                f"loss {spec.name!r} takes no hard negatives: give (anchor, positive) columns "
                "or use a loss that does (info_nce, clip, ...)"
            )
        keywords["anchor_negatives"] = torch.stack(negatives, 1)
    if feed.startswith("labelled"):
        if labels is None:
            raise ValueError(f"loss {spec.name!r} is supervised: give the batch's labels")
        if feed == "labelled_views":
            return loss(torch.stack([anchor, positive], 1), labels, **keywords)
        return loss(anchor, positive, labels=labels, **keywords)
    return loss(anchor, positive, **keywords)
