"""Chunked exact nearest-neighbour search: top-k over a gallery without a full score matrix."""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch import Tensor

from contrastor.engine.similarity import prepare

#: scores held at once (query rows x gallery columns + running top-k), about 64 MiB in float32
SCORE_BUDGET = 1 << 24


def query_chunks(n: int, width: int, chunk_size: int | None) -> Iterator[slice]:
    """Slices of queries so that ``rows * width`` stays within :data:`SCORE_BUDGET`."""
    rows = chunk_size or max(1, min(n, SCORE_BUDGET // max(width, 1)))
    for start in range(0, n, rows):
        yield slice(start, min(start + rows, n))


@torch.no_grad()
def chunked_topk(
    queries: Tensor,
    gallery: Tensor,
    k: int,
    *,
    similarity: str = "cosine",
    exclude: Tensor | None = None,
    gallery_chunk: int = 8192,
) -> tuple[Tensor, Tensor]:
    """Top-``k`` gallery items of every query, scores descending.

    The gallery is streamed in blocks of ``gallery_chunk`` columns and a running top-k is
    merged, so memory is ``O(len(queries) * (k + gallery_chunk))``. ``exclude[i]`` is a gallery
    index never returned for query i (the query itself when the gallery is the query set),
    or -1. Ties break towards the lower gallery index.
    """
    q = prepare(queries, similarity)
    g = prepare(gallery, similarity).to(q.dtype)
    n, m = q.shape[0], g.shape[0]
    k = min(k, m - (1 if exclude is not None else 0))
    best = torch.full((n, 0), float("-inf"), dtype=q.dtype, device=q.device)
    best_idx = torch.zeros((n, 0), dtype=torch.long, device=q.device)
    for start in range(0, m, gallery_chunk):
        stop = min(start + gallery_chunk, m)
        scores = q @ g[start:stop].T
        if exclude is not None:
            hit = (exclude >= start) & (exclude < stop)
            rows = torch.nonzero(hit).squeeze(1)
            scores[rows, exclude[rows] - start] = float("-inf")
        idx = torch.arange(start, stop, device=q.device).expand(n, -1)
        merged = torch.cat([best, scores], 1)
        merged_idx = torch.cat([best_idx, idx], 1)
        top = torch.topk(merged, min(k, merged.shape[1]), dim=1, sorted=True)
        best, best_idx = top.values, merged_idx.gather(1, top.indices)
    return best, best_idx
