"""Contrastive objectives for regression targets: SupReMix (mixup pairs) and the ConR
regularizer for imbalanced regression."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from contrastor._validation import check_embeddings, check_positive
from contrastor.engine.output import ContrastiveOutput
from contrastor.engine.precision import full_precision
from contrastor.engine.similarity import compute_dtype, unit_rows
from contrastor.engine.temperature import inverse_temperature
from contrastor.engine.views import stack_views
from contrastor.functional._common import finish
from contrastor.functional._views import Views

__all__ = ["conr", "regression_mixtures", "supremix"]


def _targets(targets: Tensor, n: int) -> Tensor:
    if targets.shape[0] != n or targets.ndim not in (1, 2):
        raise ValueError(f"targets must have shape ({n},) or ({n}, k), got {tuple(targets.shape)}")
    if not bool(torch.isfinite(targets.double()).all()):
        raise ValueError("targets contain NaN or inf values")
    t = targets.double()
    return t[:, None] if t.ndim == 1 else t


def _distance(a: Tensor, b: Tensor) -> Tensor:
    return torch.cdist(a, b, p=2) if a.shape[1] > 1 else (a - b.T).abs()


@dataclass
class Mixtures:
    """Per-anchor mixed candidates: ``embeddings`` ``(A, M, d)`` (unit norm), their
    ``targets`` ``(A, M)`` and whether each is a ``positive`` ``(A, M)``."""

    embeddings: Tensor
    targets: Tensor
    positive: Tensor


@full_precision
def regression_mixtures(
    z: Tensor,
    targets: Tensor,
    *,
    negatives: int = 4,
    positives: int = 4,
    generator: torch.Generator | None = None,
) -> Mixtures:
    """SupReMix's mixed candidates for every anchor row of ``z`` (unit-norm rows, 1-D
    ``targets``): ``negatives`` anchor-inclusive mixtures ``normalize(l z_a + (1 - l) z_k)``
    with a random other-target sample k and ``l ~ U(0, 1)`` (target ``l y_a + (1 - l) y_k``:
    hard negatives), and ``positives`` anchor-exclusive mixtures of a pair with
    ``y_j < y_a < y_k`` and ``l = (y_k - y_a) / (y_k - y_j)``, whose target is exactly ``y_a``
    (hard positives; anchors at the extremes of the batch get none, marked by a -inf target
    and excluded)."""
    a = z.shape[0]
    y = targets.reshape(-1).to(z.dtype)
    below = y[None, :] < y[:, None]
    above = y[None, :] > y[:, None]
    other = below | above

    def draw(mask: Tensor, count: int) -> tuple[Tensor, Tensor]:
        valid = mask.any(1)
        weights = torch.where(valid[:, None], mask, torch.ones_like(mask)).to(torch.float64)
        picks = torch.multinomial(weights.cpu(), count, replacement=True, generator=generator)
        return picks.to(z.device), valid

    parts, labels, flags = [], [], []
    if negatives:
        k, valid = draw(other, negatives)
        lam = torch.rand(a, negatives, 1, generator=generator, dtype=torch.float64).to(z)
        parts.append(lam * z[:, None, :] + (1 - lam) * z[k])
        mixed = lam[..., 0] * y[:, None] + (1 - lam[..., 0]) * y[k]
        labels.append(torch.where(valid[:, None], mixed, torch.full_like(mixed, -torch.inf)))
        flags.append(torch.zeros(a, negatives, dtype=torch.bool, device=z.device))
    if positives:
        j, has_low = draw(below, positives)
        k, has_high = draw(above, positives)
        valid = (has_low & has_high)[:, None].expand(a, positives)
        lam = ((y[k] - y[:, None]) / (y[k] - y[j]).clamp_min(1e-12)).clamp(0, 1)
        parts.append(lam[..., None] * z[j] + (1 - lam[..., None]) * z[k])
        target = torch.where(valid, y[:, None].expand(a, positives), -torch.inf)
        labels.append(target)
        flags.append(valid)
    return Mixtures(unit_rows(torch.cat(parts, 1)), torch.cat(labels, 1), torch.cat(flags, 1))


@full_precision
def supremix(
    features: Views,
    targets: Tensor,
    *,
    temperature: float | Tensor = 0.1,
    negatives: int = 4,
    positives: int = 4,
    distance_weighting: bool = True,
    mixtures: Mixtures | None = None,
    generator: torch.Generator | None = None,
    weights: Tensor | None = None,
    reduction: str = "mean",
    return_output: bool = False,
) -> Tensor | ContrastiveOutput:
    """Supervised contrastive regression with mixup pairs (SupReMix).

    Anchors are all views; candidates are the batch's other views plus per-anchor mixtures
    (:func:`regression_mixtures`). Positives: candidates with the anchor's target (other
    views, equal-target samples, anchor-exclusive mixtures); every other candidate is a
    negative, weighted ``w = 1 / (1 + |y_a - y_k|)`` in the denominator when
    ``distance_weighting``:

        L_a = -mean_{p} log( e^{l_ap} / sum_{k != a} w_ak e^{l_ak} )

    Wu et al., "Mixup Your Own Pairs", 2023. ``features``: ``(n, V, d)``; ``targets``:
    ``(n,)`` continuous. Per-anchor output ``(n, V)``; dense; single process.

    Example:
        >>> loss = supremix(torch.stack([z1, z2], 1), ages.float(), temperature=0.1)
    """
    stacked, n, views = stack_views(features, "features")
    y = _targets(targets, n)
    if y.shape[1] != 1:
        raise ValueError("SupReMix takes one target per sample")
    z = unit_rows(stacked.to(compute_dtype(stacked.dtype)))
    rows = y[:, 0].repeat(views).to(z.dtype)
    if mixtures is None:
        mixtures = regression_mixtures(
            z, rows, negatives=negatives, positives=positives, generator=generator
        )
    inv_t = inverse_temperature(temperature, z)
    m = z.shape[0]
    cand_logits = torch.cat([z @ z.T, torch.einsum("ad,amd->am", z, mixtures.embeddings)], 1)
    logits = cand_logits * inv_t
    cand_targets = torch.cat([rows[None, :].expand(m, m), mixtures.targets.to(z.dtype)], 1)
    valid = torch.isfinite(cand_targets)
    valid[:, :m] &= ~torch.eye(m, dtype=torch.bool, device=z.device)
    positive = valid & (cand_targets == rows[:, None])
    positive[:, m:] |= mixtures.positive & valid[:, m:]
    gap = (cand_targets - rows[:, None]).abs().masked_fill(~valid, 0.0)
    log_w = -torch.log1p(gap) if distance_weighting else torch.zeros_like(gap)
    log_w = torch.where(positive, torch.zeros_like(log_w), log_w)
    denominator = torch.logsumexp((logits + log_w).masked_fill(~valid, -torch.inf), 1)
    count = positive.sum(1)
    mean_positive = (logits * positive).sum(1) / count.clamp_min(1)
    defined = count > 0
    per_anchor = torch.where(defined, denominator - mean_positive, torch.zeros_like(mean_positive))
    output = ContrastiveOutput(per_anchor, defined, {"positive": -mean_positive * defined}).map(
        lambda t: t.reshape(views, n).T
    )
    if weights is not None:
        weights = weights.reshape(-1, 1).expand(n, views)
    return finish(output, reduction, weights, return_output)


@full_precision
def conr(
    features: Tensor,
    targets: Tensor,
    predictions: Tensor,
    *,
    threshold: float = 1.0,
    pushing: float = 0.01,
    push_weights: Tensor | None = None,
    temperature: float | Tensor = 0.07,
    weights: Tensor | None = None,
    reduction: str = "mean",
    return_output: bool = False,
) -> Tensor | ContrastiveOutput:
    """ConR, the contrastive regularizer for deep imbalanced regression.

    With label distance ``|y_i - y_j|`` (Euclidean for vector targets) and prediction distance
    ``|yhat_i - yhat_j|``, anchor j's positives are ``P_j = {i != j: |y_i - y_j| <= omega}``
    and its negatives the wrongly close ones, ``N_j = {i: |y_i - y_j| > omega,
    |yhat_i - yhat_j| <= omega}``; with ``l = z_j . z_i / tau`` (unit-norm features):

        L_j = -1/|P_j| sum_{i in P_j} log( e^{l_ji} / (sum_{p in P_j} e^{l_jp}
                                               + sum_{q in N_j} S_jq e^{l_jq}) )
        S_jq = w_j exp(eta |y_j - y_q|)

    Anchors without positives or without negatives are left out; add ``alpha * L`` to the
    regression loss. ``push_weights`` ``w_j`` (e.g. inverse label density) push rare
    anchors harder; ``weights`` weight the anchors' mean, as in every loss. Keramati et al.,
    "ConR: Contrastive Regularizer for Deep Imbalanced Regression", ICLR 2024. ``features``
    ``(n, d)``; ``targets``, ``predictions`` ``(n,)`` or ``(n, k)``. Dense; single process.

    Example:
        >>> loss = mse(pred, y) + 0.2 * conr(features, y, pred.detach(), threshold=1.0)
    """
    check_embeddings(features, "features")
    n = features.shape[0]
    y, p = _targets(targets, n), _targets(predictions.detach(), n)
    if y.shape != p.shape:
        raise ValueError("targets and predictions must have the same shape")
    check_positive(threshold, "threshold")
    z = unit_rows(features.to(compute_dtype(features.dtype)))
    w = torch.ones(n, dtype=z.dtype, device=z.device)
    if push_weights is not None:
        if push_weights.shape != (n,) or bool((push_weights < 0).any()):
            raise ValueError(f"push_weights must be ({n},) and non-negative")
        w = push_weights.to(z)
    label_gap = _distance(y, y).to(z)
    pred_gap = _distance(p, p).to(z)
    eye = torch.eye(n, dtype=torch.bool, device=z.device)
    positive = (label_gap <= threshold) & ~eye
    negative = (label_gap > threshold) & (pred_gap <= threshold)
    logits = (z @ z.T) * inverse_temperature(temperature, z)
    push = torch.log(w)[:, None] + pushing * label_gap
    den_terms = torch.where(positive, logits, torch.where(negative, logits + push, -torch.inf))
    denominator = torch.logsumexp(den_terms, 1)
    count = positive.sum(1)
    defined = (count > 0) & negative.any(1) & (w > 0)
    mean_positive = (logits * positive).sum(1) / count.clamp_min(1)
    per_anchor = torch.where(defined, denominator - mean_positive, torch.zeros_like(denominator))
    output = ContrastiveOutput(per_anchor, defined, {})
    if not bool(defined.any()):
        output.loss = per_anchor.sum() * 0.0
        return output if return_output else output.loss
    return finish(output, reduction, weights, return_output)
