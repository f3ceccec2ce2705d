"""Diagnostics read from scores: the distributions of positive and negative similarities,
how a loss weighs each pair (its gradient on the scores), minimal-pair (Winoground-style)
scores and a centroid anomaly score."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from contrastor._validation import check_embeddings, check_labels
from contrastor.eval.auc import auroc

QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)


@torch.no_grad()
def similarity_distribution(
    x: Tensor,
    y: Tensor | None = None,
    labels: Tensor | None = None,
    *,
    bins: int = 20,
) -> dict[str, list[float] | float]:
    """Cosine similarities of positive and of negative pairs: their quantiles
    (:data:`QUANTILES`), histograms over ``[-1, 1]`` in ``bins`` bins and the AUC of telling
    them apart (1: every positive above every negative). Pairs as in
    :func:`~contrastor.eval.similarity_gap`: with ``y``, ``(x_i, y_i)`` positive and
    ``(x_i, y_j)`` negative; with ``labels``, distinct samples of ``x`` with equal / different
    labels. Track it each epoch to see the two distributions separate (Zhu et al.,
    "Improving Contrastive Learning by Visualizing Feature Transformation", ICCV 2021).
    Builds the ``n x n`` matrix: pass a sample of a few thousand rows."""
    check_embeddings(x, "x")
    a = F.normalize(x.detach().double(), dim=1).cpu()
    if (y is None) == (labels is None):
        raise ValueError("give either y (paired rows) or labels")
    if y is not None:
        check_embeddings(y, "y")
        if y.shape != x.shape:
            raise ValueError("x and y must have the same shape")
        scores = a @ F.normalize(y.detach().double(), dim=1).cpu().T
        positive = torch.eye(len(a), dtype=torch.bool)
        compared = torch.ones_like(positive)
    else:
        check_labels(labels, len(a))
        scores = a @ a.T
        same = labels.cpu()[:, None] == labels.cpu()[None, :]
        compared = ~torch.eye(len(a), dtype=torch.bool)
        positive = same & compared
    pos, neg = scores[positive], scores[compared & ~positive]
    if pos.numel() == 0 or neg.numel() == 0:
        raise ValueError("need at least one positive and one negative pair")
    q = torch.tensor(QUANTILES, dtype=torch.float64)
    both = torch.cat([pos, neg])
    return {
        "positive_quantiles": torch.quantile(pos, q).tolist(),
        "negative_quantiles": torch.quantile(neg, q).tolist(),
        "positive_histogram": torch.histc(pos, bins, -1.0, 1.0).tolist(),
        "negative_histogram": torch.histc(neg, bins, -1.0, 1.0).tolist(),
        "auc": auroc(both, torch.arange(len(both)) < len(pos)),
    }


def pair_gradients(
    loss_fn: Callable[[Tensor], Tensor], scores: Tensor, positive: Tensor, *, hard: float = 0.1
) -> dict[str, float | Tensor]:
    """How a loss on a score matrix weighs each pair: ``g = dL/ds`` (``gradient``) and its
    summary: mean ``|g|`` on positives and on negatives, the share of the negatives' total
    ``|g|`` on the ``hard`` fraction of highest-scored negatives (how hardness-aware the
    loss is), and the share of pairs pushed the expected way (positives up: ``g < 0``;
    negatives down: ``g > 0``). The weight-and-direction decomposition used to compare
    reranking objectives in "Supervised Fine-Tuning or Contrastive Learning? Towards Better
    Multimodal LLM Reranking".

    Example:
        >>> ce = lambda s: F.cross_entropy(s / 0.05, torch.arange(len(s)))
        >>> pair_gradients(ce, q @ d.T, torch.eye(len(q), dtype=torch.bool))
    """
    if scores.ndim != 2 or positive.shape != scores.shape:
        raise ValueError("scores and positive must be (queries, candidates) of one shape")
    positive = positive.bool()
    if not bool(positive.any()) or bool(positive.all()):
        raise ValueError("need positive and negative pairs")
    s = scores.detach().clone().requires_grad_(True)
    (g,) = torch.autograd.grad(loss_fn(s), s)
    g = g.double()
    negative = ~positive
    weight = g.abs()
    neg_scores = s.detach()[negative]
    cut = torch.quantile(neg_scores.double(), 1.0 - hard)
    hardest = weight[negative][neg_scores.double() >= cut].sum()
    total = weight[negative].sum()
    right = torch.where(positive, g < 0, g > 0)
    return {
        "gradient": g,
        "positive_weight": float(weight[positive].mean()),
        "negative_weight": float(weight[negative].mean()),
        "hard_negative_share": float(hardest / total) if total > 0 else float("nan"),
        "expected_direction": float(right.double().mean()),
    }


@torch.no_grad()
def minimal_pair_scores(items: Tensor, texts: Tensor) -> dict[str, float]:
    """Winoground-style scores over minimal pairs: item ``b`` has two inputs ``items[b, k]``
    and two captions ``texts[b, k]`` (caption k describes input k; the two differ only in
    composition). With cosine ``s(caption, input)``:

    - ``text``: both inputs prefer their own caption, ``s(c0, i0) > s(c1, i0)`` and
      ``s(c1, i1) > s(c0, i1)``;
    - ``input``: both captions prefer their own input, ``s(c0, i0) > s(c0, i1)`` and
      ``s(c1, i1) > s(c1, i0)``;
    - ``group``: both.

    Each is the share of items passing. Thrush et al., "Winoground", CVPR 2022; the
    minimal-pair protocol of CompA (order and attribute) and MMVP."""
    check_embeddings(items, "items", ndim=3)
    check_embeddings(texts, "texts", ndim=3)
    if items.shape[1] != 2 or texts.shape[:2] != items.shape[:2]:
        raise ValueError("items and texts must both be (n, 2, d)")
    i = F.normalize(items.double(), dim=-1)
    c = F.normalize(texts.double(), dim=-1)
    s = torch.einsum("bkd,bjd->bkj", c, i)  # s[b, caption, input]
    text = (s[:, 0, 0] > s[:, 1, 0]) & (s[:, 1, 1] > s[:, 0, 1])
    image = (s[:, 0, 0] > s[:, 0, 1]) & (s[:, 1, 1] > s[:, 1, 0])
    return {
        "text": float(text.double().mean()),
        "input": float(image.double().mean()),
        "group": float((text & image).double().mean()),
    }


@torch.no_grad()
def centroid_scores(features: Tensor, reference: Tensor) -> Tensor:
    """Cosine of each sample to the centroid of ``reference`` (e.g. benign traffic's unit
    embeddings): a low score flags an anomaly. A scoring for encoders trained with
    augmented samples as negatives of the benign ones (SupCon with benign/augmented labels),
    as in "Contrastive Self-Supervised Network Intrusion Detection using Augmented Negative
    Pairs"."""
    check_embeddings(features, "features")
    check_embeddings(reference, "reference")
    centre = F.normalize(F.normalize(reference.double(), dim=1).mean(0), dim=0)
    return F.normalize(features.double(), dim=1) @ centre
