"""Hard-negative mining with the false-negative guards retrieval training needs.

For every query the corpus is ranked by an encoder's embeddings (the model being trained or
a frozen guide; exact chunked search or faiss), then candidates are filtered by rule, in this
order, and each rejection is counted under its rule's name:

1. ``positive``: one of the query's positives, or a duplicate of one (same key);
2. ``duplicate``: the same key as a better-ranked candidate already kept;
3. ``rank_window``: rank (among the candidates left by 1–2, 0 = best) below ``rank_range[0]``,
   where false negatives crowd (candidates beyond ``rank_range[1]`` are never searched);
4. ``absolute_margin``: score above ``s_pos - absolute_margin``;
5. ``relative_margin``: score above ``(1 - relative_margin) * s_pos``;

where ``s_pos`` is the query's lowest-scoring positive. The survivors are sampled, ``k`` per
query: the best-ranked (``"top"``) or uniformly at random (``"random"``). Rules 4–5 are the
positive-aware filters of recent embedding models (e.g. NV-Retriever's "TopK-PercPos",
Moreira et al. 2024); the window follows the rank ranges of Karpukhin et al. (DPR, 2020) and
RocketQA (Qu et al. 2021), who found that the very top candidates are often unlabelled
positives.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
from torch import Tensor

from contrastor.engine.similarity import prepare
from contrastor.retrieval.search import search

RULES = ("positive", "duplicate", "rank_window", "absolute_margin", "relative_margin")
SAMPLING = ("top", "random")


@dataclass
class MinedNegatives:
    """``indices`` ``(n, k)`` corpus rows (-1 where fewer than k survived), their guide
    ``scores`` (NaN there), and ``rejected``: candidates dropped per rule."""

    indices: Tensor
    scores: Tensor
    rejected: dict[str, int] = field(default_factory=dict)

    @property
    def found(self) -> Tensor:
        """``(n,)`` how many negatives each query got."""
        return (self.indices >= 0).sum(1)

    def anchor_negatives(self, corpus: Tensor) -> Tensor:
        """``(n, k, d)`` rows of ``corpus`` for ``anchor_negatives=``; every query must have
        ``k`` (mine deeper, or keep the queries with ``found == k``)."""
        if bool((self.indices < 0).any()):
            short = int((self.found < self.indices.shape[1]).sum())
            raise ValueError(
                f"{short} queries have fewer than {self.indices.shape[1]} mined negatives; "
                "widen rank_range, loosen the margins or use references()"
            )
        return corpus[self.indices.to(corpus.device)]

    def references(self, rows: Tensor | None = None) -> Tensor:
        """Distinct corpus rows mined for the queries ``rows`` (all by default), to append
        to a batch's references as shared extra negatives."""
        picked = self.indices if rows is None else self.indices[rows]
        return torch.unique(picked[picked >= 0])

    def summary(self) -> str:
        """One line: negatives found and rejections by rule."""
        n, k = self.indices.shape
        counts = ", ".join(f"{rule} {self.rejected.get(rule, 0):,}" for rule in RULES)
        full = int((self.found == k).sum())
        found = int(self.found.sum())
        return f"{found:,} negatives for {n:,} queries ({full:,} with all {k}); rejected: {counts}"


@torch.no_grad()
def mine_hard_negatives(
    queries: Tensor,
    corpus: Tensor,
    positives: Tensor | Sequence[Sequence[int]],
    *,
    k: int = 1,
    rank_range: tuple[int, int] = (0, 50),
    absolute_margin: float | None = None,
    relative_margin: float | None = None,
    corpus_keys: Tensor | None = None,
    sampling: str = "top",
    generator: torch.Generator | None = None,
    similarity: str = "cosine",
    backend: str = "exact",
    query_chunk: int | None = None,
    corpus_chunk: int = 8192,
) -> MinedNegatives:
    """Mine ``k`` hard negatives per query from ``corpus`` (rules in the module doc).

    Args:
        queries: ``(n, d)`` embeddings; corpus: ``(m, d)`` embeddings by the same encoder.
        positives: ``(n,)`` corpus row of each query's positive, or one list of rows per
            query (several positives).
        k: negatives per query.
        rank_range: ``(a, b)``: keep candidates ranked ``a <= rank < b`` after the positives
            and duplicates are removed.
        absolute_margin, relative_margin: drop candidates scoring above ``s_pos - margin``
            or above ``(1 - relative_margin) * s_pos``.
        corpus_keys: ``(m,)`` integer key of each corpus row (e.g. :func:`text_keys` of the
            texts): rows with a positive's key are its duplicates; negatives are distinct.
        sampling: ``top`` (best-ranked survivors) or ``random`` (uniform, ``generator``).
        backend: ``exact`` (chunked) or ``faiss``.

    Example:
        >>> mined = mine_hard_negatives(q_emb, doc_emb, torch.arange(n), k=4,
        ...                             rank_range=(10, 100), relative_margin=0.05,
        ...                             corpus_keys=text_keys(docs))
        >>> print(mined.summary())
        >>> loss = info_nce(q, d, anchor_negatives=mined.anchor_negatives(doc_model_emb))
    """
    n, m = queries.shape[0], corpus.shape[0]
    lists = _positive_lists(positives, n, m)
    a, b = rank_range
    if not 0 <= a < b:
        raise ValueError(f"rank_range must be (a, b) with 0 <= a < b, got {rank_range}")
    if k < 1:
        raise ValueError(f"k must be positive, got {k}")
    if sampling not in SAMPLING:
        raise ValueError(f"sampling must be one of {SAMPLING}, got {sampling!r}")
    for name, value in (("absolute_margin", absolute_margin), ("relative_margin", relative_margin)):
        if value is not None and not value >= 0:
            raise ValueError(f"{name} must be >= 0, got {value}")
    keys = torch.arange(m) if corpus_keys is None else corpus_keys.detach().cpu().long()
    if keys.shape != (m,):
        raise ValueError(f"corpus_keys must have shape ({m},), got {tuple(keys.shape)}")
    duplicates_per_key = _key_counts(keys)
    shadow = max(sum(duplicates_per_key[int(keys[p])] for p in set(ps)) for ps in lists)
    depth = min(m, b + shadow)
    scores, ranked = search(
        queries,
        corpus,
        depth,
        similarity=similarity,
        backend=backend,
        query_chunk=query_chunk,
        corpus_chunk=corpus_chunk,
    )
    scores, ranked = scores.double().cpu(), ranked.cpu()
    unit_q = prepare(queries.detach(), similarity).cpu()
    unit_c = prepare(corpus.detach(), similarity).cpu()
    rejected = dict.fromkeys(RULES, 0)
    out_idx = torch.full((n, k), -1, dtype=torch.long)
    out_score = torch.full((n, k), float("nan"), dtype=torch.float64)
    for i, rows in enumerate(lists):
        positive_keys = {int(keys[p]) for p in rows}
        floor = float((unit_c[rows] @ unit_q[i]).min())
        seen: set[int] = set()
        survivors: list[tuple[int, float]] = []
        rank = 0
        for j, s in zip(ranked[i].tolist(), scores[i].tolist(), strict=True):
            key = int(keys[j])
            if key in positive_keys:
                rejected["positive"] += 1
                continue
            if key in seen:
                rejected["duplicate"] += 1
                continue
            seen.add(key)
            here, rank = rank, rank + 1
            if here >= b:
                break
            if here < a:
                rejected["rank_window"] += 1
            elif absolute_margin is not None and s > floor - absolute_margin:
                rejected["absolute_margin"] += 1
            elif relative_margin is not None and s > (1.0 - relative_margin) * floor:
                rejected["relative_margin"] += 1
            else:
                survivors.append((j, s))
        if sampling == "random" and len(survivors) > k:
            pick = torch.randperm(len(survivors), generator=generator)[:k].sort().values
            survivors = [survivors[int(p)] for p in pick]
        for slot, (j, s) in enumerate(survivors[:k]):
            out_idx[i, slot], out_score[i, slot] = j, s
    return MinedNegatives(out_idx, out_score, rejected)


def _positive_lists(positives: Tensor | Sequence[Sequence[int]], n: int, m: int) -> list[list[int]]:
    if isinstance(positives, Tensor):
        if positives.shape != (n,):
            raise ValueError(f"positives must have shape ({n},), got {tuple(positives.shape)}")
        lists = [[int(p)] for p in positives.tolist()]
    else:
        lists = [[int(p) for p in rows] for rows in positives]
        if len(lists) != n:
            raise ValueError(f"give one list of positives per query ({n}), got {len(lists)}")
    for i, rows in enumerate(lists):
        if not rows:
            raise ValueError(f"query {i} has no positive")
        if min(rows) < 0 or max(rows) >= m:
            raise ValueError(f"query {i}'s positives must be corpus rows in [0, {m})")
    return lists


def _key_counts(keys: Tensor) -> dict[int, int]:
    values, counts = torch.unique(keys, return_counts=True)
    return dict(zip(values.tolist(), counts.tolist(), strict=True))
