"""Ranking objectives for retrieval: decoupled softmax for multi-label dual encoders, the
Mann-Whitney (AUC) loss, and list-wise losses over graded relevance."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from contrastor._validation import check_embeddings
from contrastor.engine.blocks import rows_scaled
from contrastor.engine.output import ContrastiveOutput
from contrastor.engine.partition import log_partition
from contrastor.engine.precision import full_precision
from contrastor.engine.similarity import prepare
from contrastor.engine.targets import Targets
from contrastor.engine.temperature import inverse_temperature
from contrastor.functional._common import finish, prepare_pair
from contrastor.scale.distributed import Exchange

__all__ = ["decoupled_softmax", "listnet", "listwise_wasserstein", "mann_whitney"]

#: rows per chunk when positives are listed, so no (n, m) matrix is ever held
_ROW_CHUNK = 256


def _positive_pairs(targets: Targets, n: int, m: int, device: torch.device):
    """Yield ``(rows, columns, weights)`` of the positive pairs, a chunk of rows at a time."""
    for start in range(0, n, _ROW_CHUNK):
        rows = slice(start, min(n, start + _ROW_CHUNK))
        block = targets.block(rows, slice(0, m)).to(device)
        i, j = torch.nonzero(block > 0, as_tuple=True)
        yield i + start, j, block[i, j]


@full_precision
def decoupled_softmax(
    query: Tensor,
    reference: Tensor,
    *,
    temperature: float | Tensor = 0.05,
    labels: Tensor | None = None,
    reference_labels: Tensor | None = None,
    targets: Tensor | Targets | None = None,
    similarity: str = "cosine",
    weights: Tensor | None = None,
    reduction: str = "mean",
    return_output: bool = False,
    execution: str = "auto",
    tile_size: int | None = None,
    exchange: Exchange | None = None,
) -> Tensor | ContrastiveOutput:
    """Decoupled softmax for multi-label retrieval: each positive competes only with the
    negatives, never with the query's other positives.

        L_i = sum_{p in P_i} w_ip * -log( e^{l_ip} / (e^{l_ip} + sum_{k not in P_i} e^{l_ik}) )
              / sum_p w_ip

    with ``l = s / tau`` and target weights ``w`` (1 for labels; soft targets weight each
    positive's term). With one positive per query it is InfoNCE. Gupta et al., "Dual-Encoders
    for Extreme Multi-Label Classification", ICLR 2024. Positives from ``labels`` (class ids or
    multi-hot), ``targets``, or index alignment. The negatives' log-sum-exp runs on the tiled
    path when asked; positives are listed a chunk of rows at a time. DDP: local queries
    against gathered references.

    Example:
        >>> loss = decoupled_softmax(doc_emb, label_emb, labels=doc_labels,
        ...                          reference_labels=torch.eye(num_labels))
    """
    batch = prepare_pair(
        query,
        reference,
        temperature=temperature,
        similarity=similarity,
        labels=labels,
        reference_labels=reference_labels,
        targets=targets,
        exchange=exchange,
    )
    q, everyone, inv_t = batch.query, batch.everyone, batch.inverse_temperature
    n, m = q.shape[0], everyone.shape[0]
    total = torch.zeros(n, dtype=q.dtype, device=q.device)
    mass = torch.zeros_like(total)
    pairs = list(_positive_pairs(batch.targets, n, m, q.device))
    counts = torch.zeros(n, dtype=torch.long, device=q.device)
    for i, _, _ in pairs:
        counts.index_add_(0, i, torch.ones_like(i))
    anchors = (counts > 0) & (counts < m)  # a positive and a negative
    if not bool(anchors.any()):
        raise ValueError("no query has both a positive and a negative: the loss is undefined")
    negatives = log_partition(
        q,
        everyone,
        inv_t,
        exclude=batch.targets,
        execution=execution,
        tile_size=tile_size,
    )
    scale = inv_t.reshape(-1) if inv_t.ndim else inv_t.expand(n)
    for i, j, w in pairs:
        logit = (q[i] * everyone[j]).sum(-1) * scale[i]
        term = torch.logaddexp(logit, negatives[i]) - logit
        keep = anchors[i]
        w = w.to(q.dtype) * keep
        total = total.index_add(0, i, w * torch.where(keep, term, torch.zeros_like(term)))
        mass = mass.index_add(0, i, w)
    per_anchor = torch.where(anchors, total / mass.clamp_min(1e-30), torch.zeros_like(total))
    output = ContrastiveOutput(per_anchor, anchors, {"negative": negatives * anchors})
    return finish(output, reduction, weights, return_output, batch.exchange)


@full_precision
def mann_whitney(
    query: Tensor,
    reference: Tensor,
    *,
    temperature: float | Tensor = 0.1,
    labels: Tensor | None = None,
    reference_labels: Tensor | None = None,
    targets: Tensor | Targets | None = None,
    similarity: str = "cosine",
    weights: Tensor | None = None,
    reduction: str = "mean",
    return_output: bool = False,
    exchange: Exchange | None = None,
) -> Tensor | ContrastiveOutput:
    """Mann-Whitney (AUC) loss: binary cross-entropy on every positive-negative score gap.

        L_i = mean_{p in P_i, k in N_i} -log sigmoid((s_ip - s_ik) / tau)
            = mean softplus((s_ik - s_ip) / tau)

    an upper bound on ``1 - AUC`` of query i's ranking (the Mann-Whitney U statistic counts
    correctly ordered positive-negative pairs). Positives as in
    :func:`~contrastor.functional.info_nce` (index-aligned, labels or targets > 0).
    Optimizing What Matters: AUC-Driven Learning for Robust Neural Retrieval, 2025. Dense:
    ``|P_i| x |N_i|`` gaps per query, a chunk of queries at a time. DDP: local queries
    against gathered references.

    Example:
        >>> loss = mann_whitney(q, d, temperature=0.1)   # in-batch negatives
    """
    batch = prepare_pair(
        query,
        reference,
        temperature=temperature,
        similarity=similarity,
        labels=labels,
        reference_labels=reference_labels,
        targets=targets,
        exchange=exchange,
    )
    q, everyone, inv_t = batch.query, batch.everyone, batch.inverse_temperature
    n, m = q.shape[0], everyone.shape[0]
    scale = inv_t.reshape(-1, 1) if inv_t.ndim else inv_t
    values, mask = [], []
    chunk = max(1, (1 << 22) // max(1, m * m))
    for start in range(0, n, chunk):
        rows = slice(start, min(n, start + chunk))
        scores = (q[rows] @ everyone.T) * (scale[rows] if inv_t.ndim else scale)
        positive = batch.targets.block(rows, slice(0, m)).to(q.device) > 0
        gaps = scores[:, None, :] - scores[:, :, None]  # [r, p, k] = l_k - l_p
        pair = positive[:, :, None] & ~positive[:, None, :]
        count = pair.sum((1, 2))
        loss = (F.softplus(gaps) * pair).sum((1, 2)) / count.clamp_min(1)
        values.append(loss)
        mask.append(count > 0)
    per_anchor, defined = torch.cat(values), torch.cat(mask)
    if not bool(defined.any()):
        raise ValueError("no query has both a positive and a negative: the loss is undefined")
    output = ContrastiveOutput(per_anchor, defined, {})
    return finish(output, reduction, weights, return_output, batch.exchange)


def list_scores(
    query: Tensor, documents: Tensor, values: Tensor, similarity: str, name: str
) -> tuple[Tensor, Tensor]:
    """Scores ``(n, k)`` of each query against its own list ``documents`` ``(n, k, d)``,
    with the list's per-document ``values`` ``(n, k)`` (called ``name``) checked finite."""
    check_embeddings(query, "query")
    check_embeddings(documents, "documents", ndim=3)
    n, k, d = documents.shape
    if query.shape != (n, d):
        raise ValueError(f"query must have shape ({n}, {d}), got {tuple(query.shape)}")
    if values.shape != (n, k):
        raise ValueError(f"{name} must have shape ({n}, {k}), got {tuple(values.shape)}")
    if not bool(torch.isfinite(values).all()):
        raise ValueError(f"{name} must be finite")
    q, docs = prepare(query, similarity), prepare(documents, similarity)
    return torch.einsum("nd,nkd->nk", q, docs), values.to(q.dtype)


def _list_inputs(
    query: Tensor, documents: Tensor, relevance: Tensor, similarity: str
) -> tuple[Tensor, Tensor]:
    scores, rel = list_scores(query, documents, relevance, similarity, "relevance")
    if bool((rel < 0).any()):
        raise ValueError("relevance must be finite and non-negative")
    if bool((rel.sum(1) <= 0).any()):
        raise ValueError("every list needs at least one relevant document (relevance > 0)")
    return scores, rel


@full_precision
def listwise_wasserstein(
    query: Tensor,
    documents: Tensor,
    relevance: Tensor,
    *,
    temperature: float | Tensor = 0.05,
    order: int = 1,
    similarity: str = "cosine",
    weights: Tensor | None = None,
    reduction: str = "mean",
    return_output: bool = False,
) -> Tensor | ContrastiveOutput:
    """List-wise loss with graded relevance: Wasserstein distance between the score
    distribution and the relevance distribution of each query's list.

    ``p = softmax(s / tau)`` over the k documents, ``t = r / sum(r)``; both are distributions
    on the relevance axis (document j sits at its grade ``r_j``, so documents of one grade are
    interchangeable), and

        W_1 = integral |F_p(x) - F_t(x)| dx,   W_2^2 = integral_0^1 (F_p^-1(u) - F_t^-1(u))^2 du

    (1-D closed forms; ``order`` picks 1 or 2, W_2 is returned squared). Both are zero only
    when the model puts all its mass on the top grade's documents in the target proportions.
    Esfandiarpoor et al., "Beyond Contrastive Learning: Synthetic Data Enables List-wise
    Training with Multiple Levels of Relevance", 2025 (which trains with a Wasserstein loss;
    the relevance-grade ground metric here is ours). Inputs: ``query`` ``(n, d)``,
    ``documents`` ``(n, k, d)``, ``relevance`` ``(n, k)`` >= 0. DDP: local lists.

    Example:
        >>> loss = listwise_wasserstein(q, docs, grades.float(), temperature=0.05)
    """
    if order not in (1, 2):
        raise ValueError(f"order must be 1 or 2, got {order}")
    scores, rel = _list_inputs(query, documents, relevance, similarity)
    p = torch.softmax(tempered(scores, temperature), dim=1)
    t = rel / rel.sum(1, keepdim=True)
    grades, sort = torch.sort(rel, dim=1)
    p, t = p.gather(1, sort), t.gather(1, sort)
    cp, ct = p.cumsum(1), t.cumsum(1)
    if order == 1:
        gaps = grades[:, 1:] - grades[:, :-1]
        per_anchor = ((cp[:, :-1] - ct[:, :-1]).abs() * gaps).sum(1)
    else:
        per_anchor = _w2_squared(cp, ct, grades)
    output = ContrastiveOutput(per_anchor, torch.ones_like(per_anchor, dtype=torch.bool), {})
    return finish(output, reduction, weights, return_output)


def tempered(scores: Tensor, temperature: float | Tensor) -> Tensor:
    """``scores / tau`` for a list per row: tau a number, a (learnable) scalar or one per row."""
    return rows_scaled(scores, inverse_temperature(temperature, scores))


def _w2_squared(cp: Tensor, ct: Tensor, grades: Tensor) -> Tensor:
    """``int_0^1 (Q_p(u) - Q_t(u))^2 du`` for two distributions on the same sorted support
    given by their CDFs at the support points."""
    cuts, _ = torch.sort(torch.cat([cp, ct], 1).clamp(0, 1), dim=1)
    lower = torch.cat([torch.zeros_like(cuts[:, :1]), cuts[:, :-1]], 1)
    width = cuts - lower
    middle = (0.5 * (cuts + lower)).detach()
    last = grades.shape[1] - 1
    qp = grades.gather(1, torch.searchsorted(cp.detach().contiguous(), middle).clamp(max=last))
    qt = grades.gather(1, torch.searchsorted(ct.detach().contiguous(), middle).clamp(max=last))
    return (width * (qp - qt) ** 2).sum(1)


@full_precision
def listnet(
    query: Tensor,
    documents: Tensor,
    relevance: Tensor,
    *,
    temperature: float | Tensor = 0.05,
    similarity: str = "cosine",
    weights: Tensor | None = None,
    reduction: str = "mean",
    return_output: bool = False,
) -> Tensor | ContrastiveOutput:
    """ListNet: cross-entropy between ``r / sum(r)`` and ``softmax(s / tau)`` over each list
    (the list-wise baseline; InfoNCE when one document is relevant). Cao et al., "Learning to
    Rank: From Pairwise Approach to Listwise Approach", ICML 2007.

    Example:
        >>> loss = listnet(q, docs, grades.float())
    """
    scores, rel = _list_inputs(query, documents, relevance, similarity)
    t = rel / rel.sum(1, keepdim=True)
    per_anchor = -(t * torch.log_softmax(tempered(scores, temperature), dim=1)).sum(1)
    output = ContrastiveOutput(per_anchor, torch.ones_like(per_anchor, dtype=torch.bool), {})
    return finish(output, reduction, weights, return_output)
