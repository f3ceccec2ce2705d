"""Top-k search of a corpus: exact in chunks (never an ``n x m`` score matrix), or faiss.

Both return the ``k`` best corpus rows of every query, scores descending. ``exact`` streams
the corpus in blocks and keeps a running top-k; ``faiss`` builds an index of the prepared
corpus (inner product; cosine rows are unit-normalised first) from a factory string:
``"Flat"`` is exact and gives the same neighbours as ``exact``, approximate indexes
(``"HNSW32"``, ``"IVF1024,Flat"``) trade recall for speed on large corpora. faiss is the
optional ``faiss-cpu`` package (``pip install contrastor[retrieval]``).
"""

from __future__ import annotations

import torch
from torch import Tensor

from contrastor._validation import check_embeddings, check_same_dim
from contrastor.engine.similarity import prepare
from contrastor.eval._chunks import chunked_topk, query_chunks

BACKENDS = ("exact", "faiss")


@torch.no_grad()
def search(
    queries: Tensor,
    corpus: Tensor,
    k: int,
    *,
    similarity: str = "cosine",
    backend: str = "exact",
    index: str = "Flat",
    exclude: Tensor | None = None,
    query_chunk: int | None = None,
    corpus_chunk: int = 8192,
) -> tuple[Tensor, Tensor]:
    """The ``k`` most similar corpus rows of every query: ``(scores, indices)``, each
    ``(n, min(k, m))``, best first.

    Args:
        queries: ``(n, d)``; corpus: ``(m, d)``.
        similarity: ``cosine`` or ``dot``.
        backend: ``exact`` (chunked, any device) or ``faiss`` (CPU, index from ``index``).
        exclude: ``(n,)`` a corpus row never returned for each query (its own row when the
            corpus is the query set), or -1.
        query_chunk, corpus_chunk: block sizes of the exact search (``None``: bounded memory).

    Example:
        >>> scores, idx = search(query_emb, doc_emb, 100)
    """
    check_embeddings(queries, "queries")
    check_embeddings(corpus, "corpus")
    check_same_dim(queries, corpus, ("queries", "corpus"))
    if k < 1:
        raise ValueError(f"k must be positive, got {k}")
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    if exclude is not None and exclude.shape != (queries.shape[0],):
        raise ValueError(f"exclude must have shape ({queries.shape[0]},)")
    if backend == "faiss":
        return _faiss_search(queries, corpus, k, similarity, index, exclude)
    n, m = queries.shape[0], corpus.shape[0]
    width = min(k, m) + min(corpus_chunk, m)
    parts = [
        chunked_topk(
            queries[rows],
            corpus,
            k,
            similarity=similarity,
            exclude=None if exclude is None else exclude[rows].to(queries.device),
            gallery_chunk=corpus_chunk,
        )
        for rows in query_chunks(n, width, query_chunk)
    ]
    return torch.cat([s for s, _ in parts]), torch.cat([i for _, i in parts])


def _faiss_search(
    queries: Tensor,
    corpus: Tensor,
    k: int,
    similarity: str,
    index: str,
    exclude: Tensor | None,
) -> tuple[Tensor, Tensor]:
    try:
        import faiss
    except ImportError as error:
        raise ImportError(
            "backend='faiss' needs the faiss-cpu package: pip install contrastor[retrieval]"
        ) from error
    q = prepare(queries.float(), similarity).cpu().contiguous().numpy()
    g = prepare(corpus.float(), similarity).cpu().contiguous().numpy()
    built = faiss.index_factory(g.shape[1], index, faiss.METRIC_INNER_PRODUCT)
    if not built.is_trained:
        built.train(g)
    built.add(g)
    extra = 0 if exclude is None else 1
    depth = min(k + extra, g.shape[0])
    scores, idx = (torch.from_numpy(a) for a in built.search(q, depth))
    if exclude is not None:
        keep = idx != exclude.cpu()[:, None]
        order = torch.argsort((~keep).to(torch.int8), dim=1, stable=True)
        scores, idx = scores.gather(1, order), idx.gather(1, order)
        depth = min(k, g.shape[0] - 1)
        scores, idx = scores[:, :depth], idx[:, :depth]
    return scores.to(queries.device), idx.to(queries.device)
