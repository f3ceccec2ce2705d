"""Robust training strategies that plug into any loss through per-sample weights, targets
or an extra regularizer, without editing the loss."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from contrastor._validation import check_embeddings
from contrastor.engine.similarity import prepare
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


@torch.no_grad()
def false_negative_mask(
    query: Tensor,
    reference: Tensor,
    *,
    threshold: float | None = None,
    top_k: int | None = None,
    guide_query: Tensor | None = None,
    guide_reference: Tensor | None = None,
    exclude_diagonal: bool = True,
) -> Tensor:
    """``(n, m)`` bool mask of suspected false negatives: pairs whose cosine similarity (in
    the model's space, or in a frozen ``guide`` model's space when given) is at least
    ``threshold`` and/or among each query's ``top_k`` most similar references. The index
    -aligned positive is never a suspect. Pass it to
    :func:`~contrastor.functional.false_negative_cancellation` to eliminate or attract the
    suspects. Huynh et al., "Boosting
    Contrastive Self-Supervised Learning with False Negative Cancellation", WACV 2022; with a
    guide model, the filtering of false negatives by a frozen encoder."""
    a = query if guide_query is None else guide_query
    b = reference if guide_reference is None else guide_reference
    check_embeddings(a, "query")
    check_embeddings(b, "reference")
    if threshold is None and top_k is None:
        raise ValueError("give a similarity threshold, a top_k, or both")
    scores = prepare(a, "cosine") @ prepare(b, "cosine").T
    n, m = scores.shape
    if exclude_diagonal:
        diag = torch.arange(min(n, m), device=scores.device)
        scores[diag, diag] = -torch.inf
    mask = torch.ones_like(scores, dtype=torch.bool)
    if threshold is not None:
        mask &= scores >= threshold
    if top_k is not None:
        top = torch.zeros_like(mask)
        top.scatter_(1, scores.topk(min(top_k, m), dim=1).indices, True)
        mask &= top
    return mask & torch.isfinite(scores)


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
