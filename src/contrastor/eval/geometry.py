"""Geometry diagnostics of an embedding set: alignment, uniformity, effective rank, and mean
positive vs negative similarity. All exact, with memory linear in the number of samples."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from contrastor._validation import check_embeddings, check_labels, check_same_length


def _unit(x: Tensor) -> Tensor:
    return F.normalize(x.detach().double(), dim=-1)


@torch.no_grad()
def alignment_score(x: Tensor, y: Tensor, alpha: float = 2.0) -> float:
    """``E ||x_i - y_i||^alpha`` over positive pairs of L2-normalised embeddings (lower is
    better aligned). Wang & Isola, ICML 2020."""
    check_embeddings(x, "x")
    check_embeddings(y, "y")
    check_same_length(x, y, ("x", "y"))
    return float((_unit(x) - _unit(y)).norm(dim=1).pow(alpha).mean())


@torch.no_grad()
def uniformity_score(x: Tensor, t: float = 2.0, chunk: int = 2048) -> float:
    """``log E_{i != j} exp(-t ||x_i - x_j||^2)`` of L2-normalised embeddings (lower is more
    uniform), streamed over row blocks. Wang & Isola, ICML 2020."""
    check_embeddings(x, "x")
    z = _unit(x)
    n = z.shape[0]
    if n < 2:
        raise ValueError("uniformity needs at least two samples")
    parts = []
    for start in range(0, n, chunk):
        block = z[start : start + chunk]
        d2 = (2.0 - 2.0 * block @ z.T).clamp_min(0.0)
        rows = torch.arange(block.shape[0])
        d2[rows, rows + start] = float("inf")
        parts.append(torch.logsumexp((-t * d2).reshape(-1), 0))
    return float(torch.logsumexp(torch.stack(parts), 0) - math.log(n * (n - 1)))


@torch.no_grad()
def effective_rank(x: Tensor, eps: float = 1e-12) -> float:
    """``exp(H(p))`` with ``p_k = sigma_k / sum sigma`` the normalised singular values of the
    embedding matrix: 1 for a collapsed set, up to ``min(n, d)`` (Roy & Vetterli, 2007; used
    as RankMe by Garrido et al., 2023, to detect dimensional collapse)."""
    check_embeddings(x, "x")
    s = torch.linalg.svdvals(x.detach().double())
    p = s / s.sum().clamp_min(eps) + eps
    return float(torch.exp(-(p * p.log()).sum()))


@torch.no_grad()
def similarity_gap(
    x: Tensor, labels: Tensor | None = None, y: Tensor | None = None
) -> dict[str, float]:
    """Mean cosine similarity of positive and of negative pairs, and their gap.

    With ``labels``: pairs of distinct samples of ``x`` with equal / different labels. With
    ``y``: ``(x_i, y_i)`` are positives and ``(x_i, y_j)``, ``i != j`` negatives. Computed from
    per-class sums in ``O(n d)``, no pair matrix.
    """
    check_embeddings(x, "x")
    z = _unit(x)
    n = z.shape[0]
    if y is not None:
        check_embeddings(y, "y")
        check_same_length(x, y, ("x", "y"))
        w = _unit(y)
        pos_sum = float((z * w).sum())
        all_sum = float(z.sum(0) @ w.sum(0))
        pos_pairs, neg_pairs = n, n * n - n
    elif labels is not None:
        check_labels(labels, n)
        _, inverse = torch.unique(labels, return_inverse=True)
        sums = torch.zeros(int(inverse.max()) + 1, z.shape[1], dtype=z.dtype)
        sums.index_add_(0, inverse, z)
        counts = torch.bincount(inverse).double()
        pos_sum = float((sums * sums).sum() - n)
        all_sum = float(z.sum(0) @ z.sum(0) - n)
        pos_pairs = float((counts * (counts - 1)).sum())
        neg_pairs = n * (n - 1) - pos_pairs
    else:
        raise ValueError("give labels, or paired embeddings y")
    pos = pos_sum / pos_pairs if pos_pairs else float("nan")
    neg = (all_sum - pos_sum) / neg_pairs if neg_pairs else float("nan")
    return {"positive_similarity": pos, "negative_similarity": neg, "similarity_gap": pos - neg}


@torch.no_grad()
def modality_gap(x: Tensor, y: Tensor, t: float = 2.0) -> dict[str, float]:
    """Diagnostics of the gap between two modalities' L2-normalised embeddings of the same
    ``n`` pairs ``(x_i, y_i)``:

    - ``centroid_distance``: ``||mean(x) - mean(y)||`` (the modality gap of Liang et al.,
      "Mind the Gap", NeurIPS 2022);
    - ``matched_cosine`` / ``unmatched_cosine``: mean cosine of the pairs and of all
      cross-modal non-pairs (computed in O(nd));
    - ``uniformity_x``, ``uniformity_y``, ``uniformity_joint``: Wang-Isola uniformity of each
      modality and of both together; a joint value far above the single ones means the
      modalities occupy separate regions (the contrastive gap of Fahim et al., 2024).
    """
    check_embeddings(x, "x")
    check_embeddings(y, "y")
    check_same_length(x, y, ("x", "y"))
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"x and y have different embedding sizes: {x.shape[1]} vs {y.shape[1]}")
    n = x.shape[0]
    if n < 2:
        raise ValueError("the modality gap needs at least two pairs")
    a, b = _unit(x), _unit(y)
    matched = (a * b).sum(1)
    total = a.sum(0) @ b.sum(0)
    return {
        "centroid_distance": float((a.mean(0) - b.mean(0)).norm()),
        "matched_cosine": float(matched.mean()),
        "unmatched_cosine": float((total - matched.sum()) / (n * (n - 1))),
        "uniformity_x": uniformity_score(a, t),
        "uniformity_y": uniformity_score(b, t),
        "uniformity_joint": uniformity_score(torch.cat([a, b]), t),
    }


@torch.no_grad()
def isotropy(x: Tensor, mask: Tensor | None = None) -> float:
    """``1 - mean cosine`` of distinct rows: 1 when directions spread evenly (mean cosine 0),
    0 when all rows point one way. For token representations ``(batch, T, d)`` the pairs are
    taken within each sequence (``mask`` ``(batch, T)`` marks real tokens) and averaged over
    sequences, the measure of Su et al., "A Contrastive Framework for Neural Text Generation"
    (SimCTG), 2022. Computed from sums of unit rows, no pair matrix."""
    if x.ndim == 2:
        x = x.unsqueeze(0)
    if x.ndim != 3:
        raise ValueError(f"x must be (n, d) or (batch, T, d), got {tuple(x.shape)}")
    if not bool(torch.isfinite(x).all()):
        raise ValueError("x contains NaN or inf values")
    keep = torch.ones(x.shape[:2], dtype=torch.bool) if mask is None else mask.bool().cpu()
    if keep.shape != x.shape[:2]:
        raise ValueError(f"mask must have shape {tuple(x.shape[:2])}")
    unit = _unit(x.double().cpu()) * keep.unsqueeze(-1)
    count = keep.sum(1).double()
    pairs = count * (count - 1)
    if not bool((pairs > 0).any()):
        raise ValueError("isotropy needs at least two rows in some sequence")
    # sum_{i != j} u_i . u_j = |sum_i u_i|^2 - sum_i |u_i|^2
    off_diagonal = unit.sum(1).square().sum(1) - unit.square().sum((1, 2))
    defined = pairs > 0
    return float(1.0 - (off_diagonal[defined] / pairs[defined]).mean())


@torch.no_grad()
def partition_isotropy(x: Tensor) -> float:
    """``min_c Z(c) / max_c Z(c)`` with ``Z(c) = sum_i exp(c . x_i)`` over the unit
    eigenvectors ``c`` of ``X^T X``: 1 for an isotropic cloud, near 0 when a few directions
    dominate (Mu & Viswanath, "All-but-the-Top", ICLR 2018). Rows are used as given."""
    check_embeddings(x, "x")
    xd = x.detach().double().cpu()
    _, vectors = torch.linalg.eigh(xd.T @ xd)
    z = torch.logsumexp(xd @ vectors, 0)  # log Z(c) of each eigenvector
    return float(torch.exp(z.min() - z.max()))
