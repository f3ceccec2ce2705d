"""Retrieval evaluation against relevance judgements (qrels), as in TREC and BEIR.

Judgements are graded: ``qrels[query_id][doc_id] = grade``; a document is relevant when its
grade is at least ``relevance_level`` (1), and nDCG uses the grade itself as the gain. Per
query, with ``rel_r`` the grade at rank r, ``R`` the number of relevant documents:

- ``recall@K``: relevant documents in the top K over R (IR recall, ``recall_K`` of trec_eval);
- ``success@K``: 1 if any of the top K is relevant;
- ``precision@K``: relevant documents in the top K over K;
- ``mrr@K``: 1 / rank of the first relevant document in the top K, else 0;
- ``ndcg@K``: ``sum_{r<=K} rel_r / log2(r+1)`` over the same sum for the ideal order of all
  judged grades (Järvelin & Kekäläinen 2002; ``ndcg_cut_K`` of trec_eval);
- ``map@K``: ``1/R sum_{r<=K, relevant} precision@r`` (``map_cut_K`` of trec_eval).

Means run over the queries with at least one relevant document (the others are counted).
Rankings come from :func:`contrastor.retrieval.search`, exact in chunks or faiss, so the
``queries x corpus`` score matrix is never formed. :func:`read_beir` reads the BEIR layout
(``corpus.jsonl``, ``queries.jsonl``, ``qrels/<split>.tsv``); :func:`write_beir` writes it.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

from contrastor.retrieval.search import search

Qrels = Mapping[str, Mapping[str, int]]
METRICS = ("recall", "success", "precision", "mrr", "ndcg", "map")


@dataclass
class BeirSet:
    """A retrieval test set: the corpus, the judged queries and their graded qrels."""

    corpus_ids: list[str]
    corpus_texts: list[str]
    query_ids: list[str]
    query_texts: list[str]
    qrels: dict[str, dict[str, int]]


def read_beir(folder: str | Path, split: str = "test") -> BeirSet:
    """Read a BEIR folder: ``corpus.jsonl`` (``_id``, ``text``, optional ``title``, joined to
    the text), ``queries.jsonl`` (``_id``, ``text``) and ``qrels/<split>.tsv`` (``query-id``,
    ``corpus-id``, ``score``, with a header). Only queries with judgements are kept; a
    judgement naming an unknown query or document is an error with its line."""
    root = Path(folder)
    corpus = {
        row["_id"]: " ".join(p for p in (row.get("title", ""), row["text"]) if p)
        for row in _jsonl(root / "corpus.jsonl")
    }
    queries = {row["_id"]: row["text"] for row in _jsonl(root / "queries.jsonl")}
    qrels: dict[str, dict[str, int]] = {}
    path = root / "qrels" / f"{split}.tsv"
    if not path.exists():
        raise FileNotFoundError(f"{path}: no qrels for split {split!r}")
    with path.open(newline="", encoding="utf-8") as handle:
        rows = csv.reader(handle, delimiter="\t")
        next(rows, None)
        for line, row in enumerate(rows, start=2):
            if not row:
                continue
            if len(row) != 3 or row[0] not in queries or row[1] not in corpus:
                raise ValueError(f"{path}:{line}: expected a known query id, corpus id, grade")
            qrels.setdefault(row[0], {})[row[1]] = int(float(row[2]))
    kept = [q for q in queries if q in qrels]
    return BeirSet(list(corpus), list(corpus.values()), kept, [queries[q] for q in kept], qrels)


def write_beir(folder: str | Path, data: BeirSet, split: str = "test") -> Path:
    """Write ``data`` in the BEIR layout under ``folder``; returns the folder."""
    root = Path(folder)
    (root / "qrels").mkdir(parents=True, exist_ok=True)
    with (root / "corpus.jsonl").open("w", encoding="utf-8") as out:
        for key, text in zip(data.corpus_ids, data.corpus_texts, strict=True):
            out.write(json.dumps({"_id": key, "title": "", "text": text}) + "\n")
    with (root / "queries.jsonl").open("w", encoding="utf-8") as out:
        for key, text in zip(data.query_ids, data.query_texts, strict=True):
            out.write(json.dumps({"_id": key, "text": text}) + "\n")
    with (root / "qrels" / f"{split}.tsv").open("w", encoding="utf-8") as out:
        out.write("query-id\tcorpus-id\tscore\n")
        for query, judged in data.qrels.items():
            for doc, grade in judged.items():
                out.write(f"{query}\t{doc}\t{grade}\n")
    return root


def _jsonl(path: Path) -> list[dict]:
    if not path.exists():
        raise FileNotFoundError(f"{path}: not a BEIR folder (missing {path.name})")
    rows = []
    with path.open(encoding="utf-8") as handle:
        for line, text in enumerate(handle, start=1):
            if text.strip():
                try:
                    row = json.loads(text)
                except json.JSONDecodeError as error:
                    raise ValueError(f"{path}:{line}: not JSON ({error.msg})") from None
                if "_id" not in row or "text" not in row:
                    raise ValueError(f"{path}:{line}: expected the fields _id and text")
                row["_id"] = str(row["_id"])
                rows.append(row)
    return rows


@torch.no_grad()
def qrels_metrics(
    queries: Tensor,
    corpus: Tensor,
    query_ids: Sequence[str],
    corpus_ids: Sequence[str],
    qrels: Qrels,
    *,
    ks: Sequence[int] = (1, 10, 100),
    similarity: str = "cosine",
    backend: str = "exact",
    relevance_level: int = 1,
    per_query: bool = False,
    query_chunk: int | None = None,
    corpus_chunk: int = 8192,
) -> dict[str, float]:
    """Embedding retrieval scored against graded ``qrels`` (definitions in the module doc).

    Args:
        queries: ``(n, d)`` embeddings of ``query_ids``; corpus: ``(m, d)`` of ``corpus_ids``.
        qrels: ``{query_id: {doc_id: grade}}``; documents not in ``corpus_ids`` are an error.
        ks: cut-offs; the search runs to the deepest.
        backend: ``exact`` (chunked) or ``faiss`` (see :func:`~contrastor.retrieval.search`).
        per_query: also return ``"per_query": {metric: {query_id: value}}``.

    Returns:
        ``{"ndcg@10": ..., "mrr@10": ..., "recall@100": ..., "map@10": ..., "queries": n,
        "queries_without_relevant": skipped}``.

    Example:
        >>> data = read_beir("scifact")
        >>> m = qrels_metrics(encode(data.query_texts), encode(data.corpus_texts),
        ...                   data.query_ids, data.corpus_ids, data.qrels, ks=(10,))
    """
    if queries.shape[0] != len(query_ids) or corpus.shape[0] != len(corpus_ids):
        raise ValueError("give one id per query row and per corpus row")
    ks = sorted({int(k) for k in ks})
    if not ks or ks[0] < 1:
        raise ValueError(f"ks must be positive integers, got {ks}")
    _, ranked = search(
        queries,
        corpus,
        ks[-1],
        similarity=similarity,
        backend=backend,
        query_chunk=query_chunk,
        corpus_chunk=corpus_chunk,
    )
    position = {doc: j for j, doc in enumerate(corpus_ids)}
    grades = judged_grades(ranked.cpu(), query_ids, qrels, position)
    ideal = ideal_grades(query_ids, qrels, position, ks[-1], relevance_level)
    return ranking_metrics(
        grades, ideal, list(query_ids), ks, relevance_level=relevance_level, per_query=per_query
    )


def judged_grades(
    ranked: Tensor, query_ids: Sequence[str], qrels: Qrels, position: Mapping[str, int]
) -> Tensor:
    """``(n, K)`` grade of each retrieved corpus row (0 when unjudged), looked up by sorted
    ``query * m + doc`` keys rather than an ``n x m`` matrix."""
    m = max(len(position), 1)
    keys, values = [], []
    for i, query in enumerate(query_ids):
        for doc, grade in qrels.get(query, {}).items():
            if doc not in position:
                raise ValueError(f"qrels of query {query!r} name {doc!r}, not in the corpus")
            keys.append(i * m + position[doc])
            values.append(grade)
    if not keys:
        return torch.zeros(ranked.shape, dtype=torch.float64)
    keys_t, order = torch.sort(torch.tensor(keys, dtype=torch.long))
    values_t = torch.tensor(values, dtype=torch.float64)[order]
    wanted = torch.arange(ranked.shape[0])[:, None] * m + ranked.clamp_min(0)
    slot = torch.searchsorted(keys_t, wanted).clamp_max(len(keys_t) - 1)
    hit = (keys_t[slot] == wanted) & (ranked >= 0)
    return torch.where(hit, values_t[slot], torch.zeros((), dtype=torch.float64))


def ideal_grades(
    query_ids: Sequence[str],
    qrels: Qrels,
    position: Mapping[str, int] | None,
    depth: int,
    relevance_level: int = 1,
) -> tuple[Tensor, Tensor]:
    """Per query: the ``depth`` highest positive grades (zero-padded) and the count of
    relevant documents (grade >= ``relevance_level``)."""
    top = torch.zeros(len(query_ids), depth, dtype=torch.float64)
    relevant = torch.zeros(len(query_ids), dtype=torch.float64)
    for i, query in enumerate(query_ids):
        judged = [g for d, g in qrels.get(query, {}).items() if position is None or d in position]
        positive = sorted((g for g in judged if g > 0), reverse=True)[:depth]
        top[i, : len(positive)] = torch.tensor(positive, dtype=torch.float64)
        relevant[i] = sum(g >= relevance_level for g in judged)
    return top, relevant


def ranking_metrics(
    grades: Tensor,
    ideal: tuple[Tensor, Tensor],
    query_ids: Sequence[str],
    ks: Sequence[int],
    *,
    relevance_level: int = 1,
    per_query: bool = False,
) -> dict:
    """The metrics of the module doc from ``grades`` ``(n, K)`` of ranked lists and
    :func:`ideal_grades`; queries without a relevant document are left out and counted."""
    top, relevant = ideal
    keep = relevant > 0
    if not bool(keep.any()):
        raise ValueError("no query has a relevant document")
    hits = (grades >= relevance_level).double()
    depth = grades.shape[1]
    ranks = torch.arange(1, max(depth, top.shape[1]) + 1, dtype=torch.float64)
    discount = 1.0 / torch.log2(ranks + 1.0)
    found = torch.where(hits.any(1), hits.argmax(1).double() + 1, math.inf)
    precision = torch.cumsum(hits, 1) / ranks[:depth]
    values: dict[str, Tensor] = {}
    for k in ks:
        cut = hits[:, :k]
        ideal_dcg = (top[:, :k] * discount[: top[:, :k].shape[1]]).sum(1)
        dcg = (grades[:, :k].clamp_min(0) * discount[: cut.shape[1]]).sum(1)
        values[f"recall@{k}"] = cut.sum(1) / relevant.clamp_min(1)
        values[f"success@{k}"] = cut.any(1).double()
        values[f"precision@{k}"] = cut.sum(1) / k
        values[f"mrr@{k}"] = torch.where(found <= k, 1.0 / found, 0.0)
        values[f"ndcg@{k}"] = torch.where(ideal_dcg > 0, dcg / ideal_dcg, 0.0)
        values[f"map@{k}"] = (cut * precision[:, :k]).sum(1) / relevant.clamp_min(1)
    result: dict = {name: float(v[keep].mean()) for name, v in values.items()}
    result["queries"] = int(keep.sum())
    result["queries_without_relevant"] = int((~keep).sum())
    if per_query:
        kept = [q for q, k in zip(query_ids, keep.tolist(), strict=True) if k]
        result["per_query"] = {
            name: dict(zip(kept, v[keep].tolist(), strict=True)) for name, v in values.items()
        }
    return result


def run_metrics(
    run: Mapping[str, Mapping[str, float]],
    qrels: Qrels,
    *,
    ks: Sequence[int] = (1, 10, 100),
    relevance_level: int = 1,
    per_query: bool = False,
) -> dict:
    """The same metrics for a scored run ``{query_id: {doc_id: score}}`` (TREC/ranx form):
    each query's documents are ranked by score, descending."""
    ks = sorted({int(k) for k in ks})
    query_ids = [q for q in run if q in qrels]
    depth = max(ks[-1], 1)
    grades = torch.zeros(len(query_ids), depth, dtype=torch.float64)
    for i, query in enumerate(query_ids):
        ranked = sorted(run[query].items(), key=lambda item: -item[1])[:depth]
        judged = qrels[query]
        grades[i, : len(ranked)] = torch.tensor(
            [float(judged.get(doc, 0)) for doc, _ in ranked], dtype=torch.float64
        )
    ideal = ideal_grades(query_ids, qrels, None, depth, relevance_level)
    return ranking_metrics(
        grades, ideal, query_ids, ks, relevance_level=relevance_level, per_query=per_query
    )
