"""Stacking several views of a batch into one set of anchors (SimCLR layout)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from contrastor._validation import check_embedding_list, check_embeddings


def stack_views(
    views: Tensor | Sequence[Tensor], name: str = "views", values: bool = True
) -> tuple[Tensor, int, int]:
    """Stack views view-major: ``(n, V, d)`` or a list of V ``(n, d)`` tensors -> ``(V*n, d)``.

    Returns ``(stacked, n, V)``; row ``v * n + i`` is view ``v`` of sample ``i``
    (``values``: as :func:`~contrastor._validation.check_embeddings`).
    """
    if isinstance(views, Tensor):
        if views.ndim == 2:
            views = views.unsqueeze(1)
        check_embeddings(views, name, ndim=3, values=values)
        n, v, _ = views.shape
        return views.transpose(0, 1).reshape(v * n, views.shape[2]), n, v
    if len(views) == 0:
        raise ValueError(f"{name} is empty: give at least one view")
    check_embedding_list(views, name, values=values)
    return torch.cat(list(views), 0), views[0].shape[0], len(views)
