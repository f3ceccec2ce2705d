"""Detectors: score every training sample or pair with how likely it is clean, from signals
the library already has (per-anchor losses, embeddings, labels), and measure them against a
simulator's ground truth."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from contrastor._validation import check_embeddings, check_labels
from contrastor.eval._chunks import chunked_topk
from contrastor.eval.auc import auroc, average_precision
from contrastor.eval.linear_probe import fit_logistic
from contrastor.scale.distributed import Exchange
from contrastor.state.per_sample import PerSampleState


class LossHistory(nn.Module):
    """Per-sample loss statistics over training: running mean and standard deviation of
    every sample's (or pair's) loss, kept in checkpointed buffers indexed by dataset index.

    Noisy pairs are learned late (the memorisation effect), so their losses stay high and
    vary more; the mean over epochs separates them better than one epoch's loss (the
    signal of bad-pair mining for time series, Lan et al., "Towards Enhancing Time Series
    Contrastive Learning: A Dynamic Bad Pair Mining Approach", ICLR 2024). Feed it the
    per-anchor output of any loss (``reduction="none"``). Under DDP, pass ``exchange`` and
    every rank records the losses of all ranks.

    Example:
        >>> history = LossHistory(len(dataset))
        >>> per_pair = loss_fn(q, r, reduction="none")
        >>> history.update(index, per_pair)
        >>> clean = gmm_clean_probability(history.mean())
    """

    def __init__(self, size: int, *, start: int = 0) -> None:
        super().__init__()
        self.start = start
        self.state = PerSampleState(size, dtype=torch.float64, total=(), square=(), count=())
        self.register_buffer("updates", torch.zeros((), dtype=torch.long))

    @torch.no_grad()
    def update(self, index: Tensor, losses: Tensor, exchange: Exchange | None = None) -> None:
        """Record one loss per sample of this batch (``losses`` ``(n,)`` or ``(n, V)``, views
        averaged); observations before ``start`` updates are skipped (warm-up)."""
        self.updates += 1
        if int(self.updates) <= self.start:
            return
        values = losses.detach().double().reshape(losses.shape[0], -1).mean(1)
        s = self.state
        s.write("total", index, s.read("total", index) + values.cpu().to(s.total), exchange)
        s.write("square", index, s.read("square", index) + values.cpu().to(s.total) ** 2, exchange)
        s.write("count", index, s.read("count", index) + 1, exchange)

    def mean(self) -> Tensor:
        """Mean loss of every sample (NaN where never seen)."""
        return self.state.total / self.state.count

    def std(self) -> Tensor:
        """Standard deviation of every sample's losses (NaN where never seen)."""
        mean = self.mean()
        return (self.state.square / self.state.count - mean**2).clamp_min(0).sqrt()

    def seen(self) -> Tensor:
        return self.state.count > 0


def _finite(values: Tensor, name: str) -> Tensor:
    if values.ndim != 1 or values.numel() == 0:
        raise ValueError(f"{name} must be a non-empty 1-D tensor")
    if not bool(torch.isfinite(values.double()).all()):
        raise ValueError(f"{name} contains NaN or inf values")
    return values.detach().double().cpu()


def gmm_clean_probability(losses: Tensor, *, iterations: int = 100, eps: float = 1e-6) -> Tensor:
    """Posterior of the low-loss component of a two-component 1-D Gaussian mixture fitted by
    EM to the (min-max normalised) per-sample losses: the clean probability of noisy-label and
    noisy-correspondence work (Li et al., "DivideMix", ICLR 2020; Huang et al., "Learning with
    Noisy Correspondence for Cross-modal Matching", NeurIPS 2021)."""
    x = _finite(losses, "losses")
    span = x.max() - x.min()
    x = (x - x.min()) / span if span > 0 else torch.zeros_like(x)
    mu = torch.stack([torch.quantile(x, 0.1), torch.quantile(x, 0.9)])
    var = torch.full((2,), float(x.var().clamp_min(eps)) if len(x) > 1 else 1.0)
    weight = torch.tensor([0.5, 0.5], dtype=torch.float64)
    for _ in range(iterations):
        log_p = (
            torch.log(weight)
            - 0.5 * torch.log(2 * math.pi * var)
            - 0.5 * (x[:, None] - mu) ** 2 / var
        )
        resp = torch.softmax(log_p, dim=1)
        mass = resp.sum(0).clamp_min(eps)
        weight = mass / len(x)
        mu = (resp * x[:, None]).sum(0) / mass
        var = ((resp * (x[:, None] - mu) ** 2).sum(0) / mass).clamp_min(eps)
    clean = int(torch.argmin(mu))
    return resp[:, clean].float()


def small_loss_selection(losses: Tensor, keep: float) -> Tensor:
    """Bool mask of the ``keep`` fraction of samples with the smallest losses (ties towards the
    lower index): the small-loss trick (Han et al., "Co-teaching", NeurIPS 2018)."""
    x = _finite(losses, "losses")
    if not 0.0 < keep <= 1.0:
        raise ValueError(f"keep must be in (0, 1], got {keep}")
    order = torch.sort(x, stable=True).indices
    mask = torch.zeros(len(x), dtype=torch.bool)
    mask[order[: max(1, round(keep * len(x)))]] = True
    return mask


@torch.no_grad()
def knn_label_agreement(
    features: Tensor,
    labels: Tensor,
    *,
    k: int = 10,
    trusted: tuple[Tensor, Tensor] | None = None,
    margin: bool = False,
) -> Tensor:
    """Share of each sample's ``k`` nearest neighbours (cosine) that carry its label: low
    agreement flags a likely wrong label (kNN label-noise detection, e.g. Bahri et al.,
    "Deep k-NN for Noisy Labels", ICML 2020). Neighbours come from the other samples, or,
    with ``trusted = (features, labels)`` of a small set known to be clean, from that set
    only, so that the noise itself cannot vote. Exact, in chunks.

    ``margin=True`` returns ``(1 + s_y - max_{c != y} s_c) / 2`` instead, from the shares
    ``s`` of each label among the neighbours: at least 0.5 exactly when the sample's label
    is the most common one around it (ties included), whatever the noise rate, where the
    share itself falls below 0.5 for clean samples once more than half of a class is
    flipped (the kNN form of the margin of Pleiss et al., "Identifying Mislabeled Data
    using the Area Under the Margin Ranking", NeurIPS 2020)."""
    check_embeddings(features, "features")
    check_labels(labels, features.shape[0])
    n = features.shape[0]
    if trusted is None:
        gallery, gallery_labels, exclude = features, labels, torch.arange(n, device=features.device)
    else:
        gallery, gallery_labels = trusted
        check_embeddings(gallery, "trusted features")
        check_labels(gallery_labels, gallery.shape[0], "trusted labels")
        exclude = None
    available = gallery.shape[0] - (exclude is not None)
    if not 1 <= k <= available:
        raise ValueError(f"k must be in [1, {available}], got {k}")
    _, idx = chunked_topk(features, gallery, k, exclude=exclude)
    y, own = gallery_labels.to(idx.device)[idx], labels.to(idx.device)[:, None]
    share = (y == own).float().mean(1)
    if not margin:
        return share.cpu()
    if bool((gallery_labels < 0).any()) or labels.is_floating_point():
        raise ValueError("margin=True needs integer class ids >= 0")
    others = torch.where(y == own, torch.full_like(y, -1), y)
    counts = torch.zeros(len(y), int(gallery_labels.max()) + 2, device=idx.device)
    counts.scatter_add_(1, others + 1, torch.ones_like(others, dtype=counts.dtype))
    rival = counts[:, 1:].max(1).values / k
    return ((1 + share - rival) / 2).cpu()


def linear_separation(
    features: Tensor,
    clean: Tensor,
    *,
    rounds: int = 3,
    keep: float | None = None,
    weight_decay: float = 1e-3,
) -> Tensor:
    """Probability of being clean from a linear separation of clean-looking from the other
    samples in feature space, refined for ``rounds``: fit a logistic regression "clean vs
    rest" on standardised features, keep the ``keep`` share (default: the first guess's
    share) with the highest probability as the new clean set, repeat. Start from any guess,
    e.g. :func:`small_loss_selection`. After the linear-separation step of alternating
    out-of-distribution detection and small-loss selection in noisy-label learning."""
    check_embeddings(features, "features")
    n = features.shape[0]
    if clean.shape != (n,) or clean.dtype != torch.bool:
        raise ValueError(f"clean must be a ({n},) bool tensor")
    if bool(clean.all()) or not bool(clean.any()):
        raise ValueError("the first guess must mark some samples clean and some not")
    share = float(clean.double().mean()) if keep is None else keep
    x = features.detach().double().cpu()
    x = (x - x.mean(0)) / x.std(0).clamp_min(1e-12)
    xb = torch.cat([x, torch.ones(n, 1, dtype=x.dtype)], 1)
    current = clean.cpu()
    probability = current.float()
    for _ in range(max(1, rounds)):
        w = fit_logistic(x, current.long(), 2, weight_decay)
        probability = torch.softmax(xb @ w, dim=1)[:, 1].float()
        current = small_loss_selection(-probability, share)
    return probability


def detection_report(clean_score: Tensor, noisy: Tensor) -> dict[str, float]:
    """How well ``clean_score`` (higher = cleaner) finds the ``noisy`` samples: AUROC of
    ranking clean above noisy, average precision of finding the noisy ones, and precision and
    recall when flagging as many lowest-scored samples as there are noisy ones."""
    score = _finite(clean_score, "clean_score")
    noisy = noisy.bool().cpu()
    rate = float(noisy.double().mean())
    flagged = small_loss_selection(score, rate) if rate > 0 else torch.zeros_like(noisy)
    hits = float((flagged & noisy).sum())
    return {
        "auroc": auroc(score, ~noisy),
        "average_precision": average_precision(-score, noisy),
        "precision": hits / max(1.0, float(flagged.sum())),
        "recall": hits / max(1.0, float(noisy.sum())),
    }


@torch.no_grad()
def bad_pair_weights(
    history: LossHistory,
    *,
    low: float = 1.0,
    high: float = 1.0,
    weight: float = 0.5,
) -> Tensor:
    """Dynamic bad-pair mining from a :class:`LossHistory`: with ``m_i`` a pair's mean loss
    over the epochs seen and ``mu``, ``sigma`` their mean and spread over the pairs, pairs
    with ``m_i < mu - low * sigma`` (too easily aligned: noisy pairs whose noise is learned)
    or ``m_i > mu + high * sigma`` (faulty: never aligned) get ``weight``, the others 1;
    unseen pairs 1. Give the result, indexed by the batch, as a loss's ``weights``. After
    Lan et al., "Towards Enhancing Time Series Contrastive Learning: A Dynamic Bad Pair
    Mining Approach", ICLR 2024 (their smooth down-weighting is a constant here)."""
    if not 0.0 <= weight <= 1.0 or low < 0 or high < 0:
        raise ValueError("need weight in [0, 1] and non-negative low and high")
    mean = history.mean()
    seen = ~torch.isnan(mean)
    out = torch.ones_like(mean)
    if int(seen.sum()) < 2:
        return out
    mu, sigma = mean[seen].mean(), mean[seen].std()
    bad = seen & ((mean < mu - low * sigma) | (mean > mu + high * sigma))
    return out.masked_fill(bad, weight)


@torch.no_grad()
def filter_labels_by_score(
    features: Tensor,
    label_embeddings: Tensor,
    candidates: Tensor,
    *,
    threshold: float | None = None,
    top_k: int | None = None,
) -> Tensor:
    """Which candidate labels of each sample to keep, judged by an aligned text model: the
    cosine between the sample's embedding and each candidate label's embedding must reach
    ``threshold`` and/or rank within the sample's ``top_k`` candidates (both: both rules).
    ``candidates`` ``(n, c)`` holds label ids (``-1``: no candidate); returns an ``(n, c)``
    bool mask. The filtering of noisy entity labels extracted from alt-text with a CLIP
    model in Wu et al., "MOFI: Learning Image Representations from Noisy Entity Annotated
    Images", ICLR 2024."""
    check_embeddings(features, "features")
    check_embeddings(label_embeddings, "label_embeddings")
    if threshold is None and top_k is None:
        raise ValueError("give a threshold, a top_k or both")
    if candidates.ndim != 2 or candidates.shape[0] != features.shape[0]:
        raise ValueError(f"candidates must be ({features.shape[0]}, c) label ids")
    valid = candidates >= 0
    if bool((candidates >= label_embeddings.shape[0]).any()):
        raise ValueError("a candidate id is beyond the label embeddings")
    f = torch.nn.functional.normalize(features.double(), dim=1)
    g = torch.nn.functional.normalize(label_embeddings.double(), dim=1)
    scores = torch.einsum("nd,ncd->nc", f, g[candidates.clamp_min(0)])
    scores = scores.masked_fill(~valid, -torch.inf)
    keep = valid.clone()
    if threshold is not None:
        keep &= scores >= threshold
    if top_k is not None:
        rank = scores.argsort(1, descending=True).argsort(1)
        keep &= rank < top_k
    return keep
