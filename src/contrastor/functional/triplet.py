"""Metric-learning losses on in-batch pairs: the triplet loss with mining (and the miner on
its own: mined triplets can restrict any softmax loss to the mined negatives through
``negative_weights``), and the multi-similarity loss."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from contrastor._validation import check_embeddings, check_labels, check_positive
from contrastor.engine.output import ContrastiveOutput
from contrastor.engine.precision import full_precision
from contrastor.engine.similarity import compute_dtype, unit_rows
from contrastor.functional._common import finish

__all__ = ["Triplets", "mine_triplets", "multi_similarity", "triplet_margin"]

STRATEGIES = ("batch_hard", "semi_hard", "all")
DISTANCES = ("euclidean", "cosine")


def _distances(x: Tensor, distance: str) -> Tensor:
    """``(n, n)`` distances: Euclidean on the raw rows (gradient-safe at 0) or cosine
    distance ``1 - cos``."""
    if distance not in DISTANCES:
        raise ValueError(f"distance must be one of {DISTANCES}, got {distance!r}")
    if distance == "cosine":
        unit = unit_rows(x)
        return 1.0 - unit @ unit.T
    squared = x.square().sum(1, keepdim=True) + x.square().sum(1) - 2.0 * x @ x.T
    # sqrt'(0) is infinite: distances below 1e-6 are floored there, with no gradient
    return squared.clamp_min(1e-12).sqrt()


@dataclass(frozen=True)
class Triplets:
    """Mined triplets as index tensors ``(anchor, positive, negative)`` of one batch."""

    anchor: Tensor
    positive: Tensor
    negative: Tensor

    def __len__(self) -> int:
        return int(self.anchor.numel())

    def negative_weights(self, n: int, m: int | None = None) -> Tensor:
        """``(n, m)`` weights, 1 on each anchor's mined negatives, 0 elsewhere: give them as a
        softmax loss's ``negative_weights`` to contrast anchors with their mined negatives
        only (positives keep weight 1 whatever this says)."""
        weights = torch.zeros(n, m or n, device=self.anchor.device)
        weights[self.anchor, self.negative] = 1.0
        return weights


@torch.no_grad()
def mine_triplets(
    embeddings: Tensor,
    labels: Tensor,
    *,
    strategy: str = "batch_hard",
    margin: float = 0.2,
    distance: str = "euclidean",
) -> Triplets:
    """Triplets ``(a, p, n)`` of a labelled batch (``p``: same label, ``n``: another):

    - ``batch_hard``: each anchor with its farthest positive and nearest negative (Hermans
      et al., "In Defense of the Triplet Loss for Person Re-Identification", 2017);
    - ``semi_hard``: each (anchor, positive) pair with its nearest negative farther than the
      positive but within the margin, ``d_ap < d_an < d_ap + margin``; pairs without one
      are left out (Schroff et al., "FaceNet", CVPR 2015);
    - ``all``: every valid triplet.
    """
    if strategy not in STRATEGIES:
        raise ValueError(f"strategy must be one of {STRATEGIES}, got {strategy!r}")
    check_embeddings(embeddings, "embeddings")
    check_labels(labels, embeddings.shape[0])
    d = _distances(embeddings.detach().to(compute_dtype(embeddings.dtype)), distance)
    n = d.shape[0]
    y = labels.to(d.device)
    same = y[:, None] == y[None, :] if y.ndim == 1 else (y.float() @ y.float().T) > 0
    eye = torch.eye(n, dtype=torch.bool, device=d.device)
    positive, negative = same & ~eye, ~same
    if strategy == "batch_hard":
        usable = positive.any(1) & negative.any(1)
        anchor = usable.nonzero().squeeze(1)
        far = d.masked_fill(~positive, -torch.inf).argmax(1)
        near = d.masked_fill(~negative, torch.inf).argmin(1)
        return Triplets(anchor, far[anchor], near[anchor])
    a, p = positive.nonzero(as_tuple=True)
    if strategy == "all":
        pairs, negs = negative[a].nonzero(as_tuple=True)
        return Triplets(a[pairs], p[pairs], negs)
    d_ap = d[a, p][:, None]
    d_an = d[a]
    window = negative[a] & (d_an > d_ap) & (d_an < d_ap + margin)
    found = window.any(1)
    nearest = d_an.masked_fill(~window, torch.inf).argmin(1)
    return Triplets(a[found], p[found], nearest[found])


@full_precision
def triplet_margin(
    embeddings: Tensor,
    labels: Tensor,
    *,
    margin: float = 0.2,
    mining: str = "batch_hard",
    distance: str = "euclidean",
    soft: bool = False,
    weights: Tensor | None = None,
    reduction: str = "mean",
    return_output: bool = False,
) -> Tensor | ContrastiveOutput:
    """Triplet loss over mined in-batch triplets:

        l(a, p, n) = max(0, d(a, p) - d(a, n) + margin)     (soft: log(1 + e^{d_ap - d_an}))

    each anchor's value is the mean over its mined triplets (:func:`mine_triplets`:
    ``batch_hard``, ``semi_hard`` or ``all``); anchors without one are left out. Distances:
    Euclidean on the raw embeddings or cosine distance. Weinberger & Saul (LMNN), 2009;
    Schroff et al., FaceNet, 2015; Hermans et al., 2017 (batch-hard, soft margin).
    Per-anchor output ``(n,)``; single process (distances of the local batch).

    Example:
        >>> loss = triplet_margin(z, labels, margin=0.2, mining="batch_hard")
    """
    if not soft:
        check_positive(margin, "margin")
    triplets = mine_triplets(embeddings, labels, strategy=mining, margin=margin, distance=distance)
    n = embeddings.shape[0]
    if not len(triplets):
        raise ValueError("no anchor has a positive and a negative (or no semi-hard negative)")
    d = _distances(embeddings.to(compute_dtype(embeddings.dtype)), distance)
    gap = d[triplets.anchor, triplets.positive] - d[triplets.anchor, triplets.negative]
    values = F.softplus(gap) if soft else torch.relu(gap + margin)
    count = torch.zeros(n, dtype=d.dtype, device=d.device).index_add_(
        0, triplets.anchor, torch.ones_like(values)
    )
    total = torch.zeros(n, dtype=d.dtype, device=d.device).index_add(0, triplets.anchor, values)
    mask = count > 0
    per_anchor = torch.where(mask, total / count.clamp_min(1.0), 0.0)
    output = ContrastiveOutput(per_anchor, mask, {"negative": per_anchor})
    return finish(output, reduction, weights, return_output)


@full_precision
def multi_similarity(
    embeddings: Tensor,
    labels: Tensor,
    *,
    alpha: float = 2.0,
    beta: float = 40.0,
    base: float = 0.5,
    margin: float = 0.1,
    weights: Tensor | None = None,
    reduction: str = "mean",
    return_output: bool = False,
) -> Tensor | ContrastiveOutput:
    """Multi-similarity loss: with cosine similarities ``S``, each anchor keeps the
    informative pairs (a negative above its hardest positive minus ``margin``, a positive
    below its hardest negative plus ``margin``) and weighs them softly:

        L_i = 1/alpha log(1 + sum_{k in P_i} e^{-alpha (S_ik - base)})
            + 1/beta  log(1 + sum_{k in N_i} e^{ beta (S_ik - base)})

    Wang et al., "Multi-Similarity Loss with General Pair Weighting for Deep Metric
    Learning", CVPR 2019 (alpha 2, beta 40, base 0.5, margin 0.1 as in the authors' code).
    Anchors left with no mined positive or negative contribute 0 and are left out.
    Dense (``n x n`` similarities of the local batch).

    Example:
        >>> loss = multi_similarity(z, labels)
    """
    check_embeddings(embeddings, "embeddings")
    check_labels(labels, embeddings.shape[0])
    for name, value in (("alpha", alpha), ("beta", beta)):
        check_positive(value, name)
    z = unit_rows(embeddings.to(compute_dtype(embeddings.dtype)))
    s = z @ z.T
    n = s.shape[0]
    y = labels.to(s.device)
    same = y[:, None] == y[None, :] if y.ndim == 1 else (y.float() @ y.float().T) > 0
    eye = torch.eye(n, dtype=torch.bool, device=s.device)
    positive, negative = same & ~eye, ~same
    with torch.no_grad():
        hardest_positive = s.masked_fill(~positive, torch.inf).amin(1, keepdim=True)
        hardest_negative = s.masked_fill(~negative, -torch.inf).amax(1, keepdim=True)
    kept_neg = negative & (s + margin > hardest_positive)
    kept_pos = positive & (s - margin < hardest_negative)
    mask = kept_pos.any(1) & kept_neg.any(1)
    if not bool(mask.any()):
        raise ValueError("no anchor has an informative positive and negative pair")
    zero = torch.zeros(n, 1, dtype=s.dtype, device=s.device)

    def soft(pairs: Tensor, sign: float, scale: float) -> Tensor:
        logits = (sign * scale * (s - base)).masked_fill(~pairs, -torch.inf)
        return torch.logsumexp(torch.cat([zero, logits], 1), 1) / scale  # log(1 + sum e^x)

    pos_term, neg_term = soft(kept_pos, -1.0, alpha), soft(kept_neg, 1.0, beta)
    per_anchor = torch.where(mask, pos_term + neg_term, 0.0)
    terms = {
        "positive": torch.where(mask, pos_term, 0.0),
        "negative": torch.where(mask, neg_term, 0.0),
    }
    return finish(ContrastiveOutput(per_anchor, mask, terms), reduction, weights, return_output)
