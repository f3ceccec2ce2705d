"""Retrieval metrics computed exactly in chunks: Recall@K, Precision@1, MRR@K, nDCG@K, mAP@R.

A gallery item is relevant to a query when their labels are equal (class labels, or pair ids:
by default query i's only relevant item is gallery item i). Queries with no relevant item are
left out and counted. Definitions (rel_r = 1 if the item at rank r is relevant, R = number of
relevant items of the query):

- ``recall@K``: 1 if any of the top K is relevant (the "hit rate" used in metric learning and
  image-text retrieval; equals IR recall when R = 1);
- ``mrr@K``: 1 / rank of the first relevant item within the top K, else 0;
- ``ndcg@K``: sum_{r<=K} rel_r / log2(r+1) divided by its ideal value;
- ``map@R``: 1/R sum_{r<=R} rel_r * precision@r (Musgrave et al., "A Metric Learning Reality
  Check", 2020).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from contrastor._validation import check_embeddings, check_labels, check_same_dim
from contrastor.engine.similarity import prepare
from contrastor.eval._chunks import chunked_topk, query_chunks


def _relevant_counts(query_labels: Tensor, gallery_labels: Tensor, exclude_self: bool) -> Tensor:
    values, counts = torch.unique(gallery_labels, return_counts=True)
    pos = torch.searchsorted(values, query_labels).clamp_max(len(values) - 1)
    found = values[pos] == query_labels
    total = torch.where(found, counts[pos], torch.zeros_like(pos))
    return total - int(exclude_self)


@torch.no_grad()
def retrieval_metrics(
    queries: Tensor,
    gallery: Tensor,
    query_labels: Tensor | None = None,
    gallery_labels: Tensor | None = None,
    *,
    ks: Sequence[int] = (1, 5, 10),
    similarity: str = "cosine",
    exclude_self: bool = False,
    map_at_r: bool = True,
    query_chunk: int | None = None,
    gallery_chunk: int = 8192,
) -> dict[str, float]:
    """Retrieval metrics of ``queries`` against ``gallery`` (definitions in the module doc).

    Args:
        queries: ``(n, d)``; gallery: ``(m, d)``.
        query_labels, gallery_labels: ``(n,)`` and ``(m,)`` integer labels or pair ids; both
            omitted: query i matches gallery i.
        ks: cut-offs for recall, MRR and nDCG.
        exclude_self: the gallery is the query set (query i is gallery i): skip the query itself.
        map_at_r: also compute mAP@R (needs top-R per query, R = relevant count).
        query_chunk, gallery_chunk: chunk sizes (``None``: chosen to bound memory).

    Returns:
        ``{"recall@1": ..., "mrr@10": ..., "ndcg@10": ..., "precision@1": ..., "map@R": ...,
        "queries": evaluated count, "queries_without_relevant": skipped count}``.

    Example:
        >>> m = retrieval_metrics(text_emb, code_emb, ks=(1, 10))
        >>> m["recall@1"], m["mrr@10"]
    """
    check_embeddings(queries, "queries")
    check_embeddings(gallery, "gallery")
    check_same_dim(queries, gallery, ("queries", "gallery"))
    n, m = queries.shape[0], gallery.shape[0]
    if (query_labels is None) != (gallery_labels is None):
        raise ValueError("give both query_labels and gallery_labels, or neither")
    if query_labels is None:
        if n > m:
            raise ValueError("without labels, query i matches gallery i: need n <= m")
        query_labels, gallery_labels = torch.arange(n), torch.arange(m)
    check_labels(query_labels, n, "query_labels")
    check_labels(gallery_labels, m, "gallery_labels")
    if exclude_self and n != m:
        raise ValueError("exclude_self needs the gallery to be the query set (n == m)")
    ks = sorted({int(k) for k in ks})
    if not ks or ks[0] < 1:
        raise ValueError(f"ks must be positive integers, got {ks}")
    device = queries.device
    query_labels, gallery_labels = query_labels.to(device), gallery_labels.to(device)
    relevant = _relevant_counts(query_labels, gallery_labels, exclude_self)
    sums = dict.fromkeys(
        [f"recall@{k}" for k in ks] + [f"mrr@{k}" for k in ks] + [f"ndcg@{k}" for k in ks], 0.0
    )
    sums["precision@1"] = 0.0
    if map_at_r:
        sums["map@R"] = 0.0
    counted = 0
    widest = max(ks[-1], int(relevant.max()) if map_at_r else 0)
    for rows in query_chunks(n, widest + gallery_chunk, query_chunk):
        r_count = relevant[rows]
        keep = r_count > 0
        if not bool(keep.any()):
            continue
        depth = max(ks[-1], int(r_count.max()) if map_at_r else 0)
        exclude = torch.arange(rows.start, rows.stop, device=device) if exclude_self else None
        _, idx = chunked_topk(
            queries[rows],
            gallery,
            depth,
            similarity=similarity,
            exclude=exclude,
            gallery_chunk=gallery_chunk,
        )
        rel = (gallery_labels[idx] == query_labels[rows, None]).double()[keep]
        r_count = r_count[keep].double()
        counted += rel.shape[0]
        ranks = torch.arange(1, rel.shape[1] + 1, dtype=torch.float64, device=device)
        discount = 1.0 / torch.log2(ranks + 1.0)
        first = torch.where(rel.any(1), rel.argmax(1) + 1, rel.shape[1] + 1).double()
        for k in ks:
            top = rel[:, :k]
            sums[f"recall@{k}"] += float(top.any(1).sum())
            sums[f"mrr@{k}"] += float(torch.where(first <= k, 1.0 / first, 0.0).sum())
            ideal = torch.cumsum(discount[:k], 0)[(r_count.clamp_max(k) - 1).long()]
            sums[f"ndcg@{k}"] += float(((top * discount[: top.shape[1]]).sum(1) / ideal).sum())
        sums["precision@1"] += float(rel[:, 0].sum())
        if map_at_r:
            within = ranks[None, :] <= r_count[:, None]
            precision = torch.cumsum(rel, 1) / ranks
            sums["map@R"] += float(((rel * precision * within).sum(1) / r_count).sum())
    if counted == 0:
        raise ValueError("no query has a relevant gallery item")
    result = {name: value / counted for name, value in sums.items()}
    result["queries"] = counted
    result["queries_without_relevant"] = n - counted
    return result


@torch.no_grad()
def mean_rank_variance(
    items: Tensor, texts: Tensor, *, similarity: str = "cosine", chunk_size: int | None = None
) -> float:
    """Mean Rank Variance (MRV): with each of an item's K texts (one per language) as a query
    against the gallery of items, the rank of the right item (1 = first; ties count
    against it) varies across the K texts; MRV is that variance (population form) averaged
    over the items. 0 when every language ranks its item alike. Nie et al., "Improving the
    Consistency in Cross-Lingual Cross-Modal Retrieval with 1-to-K Contrastive Learning",
    KDD 2024.

    Args:
        items: ``(n, d)``; texts: ``(n, K, d)`` with K >= 2.
    """
    check_embeddings(items, "items")
    check_embeddings(texts, "texts", ndim=3)
    n, k = texts.shape[0], texts.shape[1]
    if items.shape[0] != n or items.shape[1] != texts.shape[2] or k < 2:
        raise ValueError(
            f"texts must have shape ({items.shape[0]}, K >= 2, {items.shape[1]}), "
            f"got {tuple(texts.shape)}"
        )
    gallery = prepare(items, similarity)
    queries = prepare(texts.reshape(n * k, -1), similarity)
    owner = torch.arange(n, device=items.device).repeat_interleave(k)
    ranks = torch.empty(n * k, dtype=torch.float64, device=items.device)
    for rows in query_chunks(n * k, n, chunk_size):
        scores = queries[rows] @ gallery.T
        right = scores.gather(1, owner[rows, None])
        ranks[rows] = (scores >= right).sum(1).to(torch.float64)
    return float(ranks.reshape(n, k).var(1, correction=0).mean())


@torch.no_grad()
def first_hit_spread(
    queries: Tensor,
    gallery: Tensor,
    *,
    similarity: str = "cosine",
    tolerance: float = 1e-6,
    gallery_chunk: int = 8192,
) -> dict[str, float]:
    """How degenerate a ranking is, beside its recall: ``hub share``, the largest share of
    queries whose first hit is one and the same gallery item (``1/n`` when every query has
    its own, 1 when all rank the same item first), and ``tied at top``, the share of queries
    whose two best scores differ by at most ``tolerance`` times the best's magnitude (at
    least 1), so that the first hit is decided by the tie-break, not the model.

    Example:
        >>> first_hit_spread(untrained_queries, gallery)["hub share"]  # 1.0: degenerate
    """
    check_embeddings(queries, "queries")
    check_embeddings(gallery, "gallery")
    check_same_dim(queries, gallery, ("queries", "gallery"))
    if gallery.shape[0] < 2:
        raise ValueError("first_hit_spread needs a gallery of at least 2 items")
    n = queries.shape[0]
    firsts, tied = [], 0
    for rows in query_chunks(n, 2 + gallery_chunk, None):
        values, idx = chunked_topk(
            queries[rows], gallery, 2, similarity=similarity, gallery_chunk=gallery_chunk
        )
        gap = (values[:, 0] - values[:, 1]).abs()
        tied += int((gap <= tolerance * values[:, 0].abs().clamp_min(1.0)).sum())
        firsts.append(idx[:, 0])
    hub = int(torch.bincount(torch.cat(firsts)).max())
    return {"hub share": hub / n, "tied at top": tied / n}
