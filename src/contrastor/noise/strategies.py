"""Robust training strategies that plug into any loss through per-sample weights, targets
or an extra regularizer, without editing the loss."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from contrastor._validation import check_embeddings
from contrastor.engine.similarity import prepare
from contrastor.engine.targets import Targets
from contrastor.scale.distributed import exchange_for
from contrastor.state.per_sample import PerSampleState


def clean_weights(
    clean_probability: Tensor,
    *,
    epoch: int,
    warmup_epochs: int = 1,
    mode: str = "weight",
    threshold: float = 0.5,
) -> Tensor:
    """Per-sample weights for a loss's ``weights=``: all ones during the warm-up (noisy pairs
    are learned late, so early losses are informative), then the clean probability itself
    (``mode="weight"``) or 1 for samples above ``threshold`` and 0 below (``"drop"``).
    Samples whose weight is 0 leave the mean; if every sample would be dropped, the most
    probably clean one keeps weight 1 so the loss stays defined."""
    if mode not in ("weight", "drop"):
        raise ValueError(f"mode must be 'weight' or 'drop', got {mode!r}")
    p = clean_probability.detach().float().clamp(0, 1)
    if epoch < warmup_epochs:
        return torch.ones_like(p)
    if mode == "weight":
        return p if bool(p.sum() > 0) else torch.ones_like(p)
    kept = (p >= threshold).float()
    if not bool(kept.any()):
        kept[torch.argmax(p)] = 1.0
    return kept


class GuideSuspects(Targets):
    """Suspected false negatives read block by block from a guide's cosine scores ``g``:
    reference j is a suspect of query i (never i's own positive, reference ``offset + i``)
    when any given rule fires:

    - ``threshold``: ``g_ij >= threshold``;
    - ``absolute_margin``: ``g_ij > g_ipos - absolute_margin``;
    - ``relative_margin``: ``g_ij > (1 - relative_margin) * g_ipos``.

    The margins are the positive-aware filters of recent embedding models (e.g. the
    "TopK-PercPos" rule of NV-Retriever, Moreira et al. 2024). Build it with
    :func:`guide_suspects`; the objective asks for blocks, so no ``(n, m)`` matrix is held.
    """

    def __init__(
        self,
        guide_query: Tensor,
        guide_references: Tensor,
        positive_scores: Tensor,
        offset: int = 0,
        *,
        threshold: float | None = None,
        absolute_margin: float | None = None,
        relative_margin: float | None = None,
    ) -> None:
        if threshold is None and absolute_margin is None and relative_margin is None:
            raise ValueError("give a threshold, an absolute_margin or a relative_margin")
        self.guide_query, self.guide_references = guide_query, guide_references
        self.positive_scores, self.offset = positive_scores, offset
        self.rules = (threshold, absolute_margin, relative_margin)
        self.shape = (guide_query.shape[0], guide_references.shape[0])

    def block(self, rows: slice, cols: slice) -> Tensor:
        threshold, absolute, relative = self.rules
        scores = self.guide_query[rows] @ self.guide_references[cols].T
        floor = self.positive_scores[rows, None]
        found = torch.zeros_like(scores, dtype=torch.bool)
        if threshold is not None:
            found |= scores >= threshold
        if absolute is not None:
            found |= scores > floor - absolute
        if relative is not None:
            found |= scores > (1.0 - relative) * floor
        i = torch.arange(rows.start, rows.stop, device=scores.device)[:, None]
        j = torch.arange(cols.start, cols.stop, device=scores.device)[None, :]
        return (found & (j != i + self.offset)).to(torch.get_default_dtype())

    def transpose(self) -> GuideSuspects:
        if self.offset != 0 or self.shape[0] != self.shape[1]:
            raise ValueError("guide suspects of gathered references are one-directional")
        threshold, absolute, relative = self.rules
        return GuideSuspects(
            self.guide_references,
            self.guide_query,
            self.positive_scores,
            threshold=threshold,
            absolute_margin=absolute,
            relative_margin=relative,
        )


@torch.no_grad()
def guide_suspects(
    guide_query: Tensor,
    guide_reference: Tensor,
    *,
    threshold: float | None = None,
    absolute_margin: float | None = None,
    relative_margin: float | None = None,
    gather_distributed: bool = False,
) -> GuideSuspects:
    """:class:`GuideSuspects` of index-aligned pairs (query i's positive is reference i) by a
    guide's embeddings (a frozen encoder, or the model's own detached ones), against every
    rank's references with ``gather_distributed`` (pass the loss the same flag).

    Example:
        >>> found = guide_suspects(guide(q_text), guide(d_text), absolute_margin=0.1)
        >>> loss = false_negative_cancellation(q, d, found, execution="tiled")
    """
    check_embeddings(guide_query, "guide_query")
    check_embeddings(guide_reference, "guide_reference")
    if guide_query.shape[0] > guide_reference.shape[0]:
        raise ValueError("index-aligned pairs need at least as many references as queries")
    exchange = exchange_for(gather_distributed)
    g_q = prepare(guide_query.detach(), "cosine")
    g_r = prepare(guide_reference.detach().to(g_q.dtype), "cosine")
    positive = (g_q * g_r[: g_q.shape[0]]).sum(-1)
    everyone = g_r if exchange.world_size == 1 else exchange.gather(g_r)
    return GuideSuspects(
        g_q,
        everyone,
        positive,
        exchange.offset(g_r.shape[0]),
        threshold=threshold,
        absolute_margin=absolute_margin,
        relative_margin=relative_margin,
    )


@torch.no_grad()
def false_negative_mask(
    query: Tensor,
    reference: Tensor,
    *,
    threshold: float | None = None,
    top_k: int | None = None,
    absolute_margin: float | None = None,
    relative_margin: float | None = None,
    guide_query: Tensor | None = None,
    guide_reference: Tensor | None = None,
    exclude_diagonal: bool = True,
) -> Tensor:
    """``(n, m)`` bool mask of suspected false negatives: pairs whose cosine similarity (in
    the model's space, or in a frozen ``guide`` model's space when given) passes a rule of
    :class:`GuideSuspects` (``threshold``, or within a margin of the index-aligned
    positive's similarity), and/or is among each query's ``top_k`` most similar references.
    The index-aligned positive is never a suspect. Pass it to
    :func:`~contrastor.functional.false_negative_cancellation` to eliminate or attract the
    suspects (or pass :func:`guide_suspects` itself for the tiled and gathered paths).
    Huynh et al., "Boosting Contrastive Self-Supervised Learning with False Negative
    Cancellation", WACV 2022; with a guide model, the filtering of false negatives by a frozen
    encoder."""
    a = query if guide_query is None else guide_query
    b = reference if guide_reference is None else guide_reference
    check_embeddings(a, "query")
    check_embeddings(b, "reference")
    rules = (threshold, absolute_margin, relative_margin)
    if all(rule is None for rule in rules) and top_k is None:
        raise ValueError("give a similarity threshold, a margin, a top_k, or several")
    if (absolute_margin is not None or relative_margin is not None) and not exclude_diagonal:
        raise ValueError("the margins are relative to the index-aligned positive")
    scores = prepare(a.detach(), "cosine") @ prepare(b.detach(), "cosine").T
    n, m = scores.shape
    if exclude_diagonal:
        diag = torch.arange(min(n, m), device=scores.device)
        scores[diag, diag] = -torch.inf
    mask = torch.isfinite(scores)
    if any(rule is not None for rule in rules):
        found = guide_suspects(
            a,
            b,
            threshold=threshold,
            absolute_margin=absolute_margin,
            relative_margin=relative_margin,
        )
        mask &= found.dense() > 0
    if top_k is not None:
        top = torch.zeros_like(mask)
        top.scatter_(1, scores.topk(min(top_k, m), dim=1).indices, True)
        mask &= top
    return mask


class EarlyLearningRegularizer(nn.Module):
    """Early-learning regularization (ELR) for noisy labels: a per-sample moving average of
    the model's own class predictions, ``t_i <- beta t_i + (1 - beta) p_i``, and the penalty
    ``lam * mean_i log(1 - <p_i, t_i>)`` added to the classification loss, which keeps the
    model on its early (mostly correct) predictions instead of memorising wrong labels.
    Targets live in ``state.target`` (checkpointed). Liu et al., "Early-Learning
    Regularization Prevents Memorization of Noisy Labels", NeurIPS 2020 (lam = 3,
    beta = 0.7 on CIFAR-10).

    Example:
        >>> elr = EarlyLearningRegularizer(len(dataset), num_classes=10)
        >>> loss = F.cross_entropy(logits, noisy_labels) + elr(logits, index)
    """

    def __init__(self, size: int, num_classes: int, *, lam: float = 3.0, beta: float = 0.7):
        super().__init__()
        if not 0.0 <= beta < 1.0 or lam < 0:
            raise ValueError("need beta in [0, 1) and lam >= 0")
        self.lam, self.beta = lam, beta
        self.state = PerSampleState(size, dtype=torch.float32, target=(num_classes,))

    def forward(self, logits: Tensor, index: Tensor) -> Tensor:
        p = F.softmax(logits.float(), dim=1).clamp(1e-4, 1 - 1e-4)
        with torch.no_grad():
            q = p / p.sum(1, keepdim=True)
            old = self.state.read("target", index).to(q)
            self.state.write("target", index, self.beta * old + (1 - self.beta) * q)
            target = self.state.read("target", index).to(q)
        return self.lam * torch.log(1 - (target * p).sum(1)).mean()
