"""Contrast with prototypes: every sample against a set of class (or cluster) vectors."""

from __future__ import annotations

import torch
from torch import Tensor

from contrastor._validation import check_embeddings, check_labels
from contrastor.engine.output import ContrastiveOutput
from contrastor.engine.precision import full_precision
from contrastor.functional.infonce import info_nce

__all__ = ["class_prototypes", "proxy_contrast", "semantic_anchor_contrast"]


@full_precision
def semantic_anchor_contrast(
    embeddings: Tensor,
    labels: Tensor,
    anchors: Tensor,
    *,
    margin: float = 0.2,
    temperature: float | Tensor = 0.1,
    weights: Tensor | None = None,
    reduction: str = "mean",
    return_output: bool = False,
) -> Tensor | ContrastiveOutput:
    """Margin-enhanced contrast of each sample with the anchors of all classes:

        L_i = -log( e^{(s(z_i, a_{y_i}) - m)/tau} / ( e^{(s(z_i, a_{y_i}) - m)/tau}
                                                      + sum_{c != y_i} e^{s(z_i, a_c)/tau} ) )

    with cosine similarity ``s``: the margin ``m`` must be won on the own class's anchor, so
    classes stay compact and apart. The anchors are fixed for the step (FedSA shares them
    across clients and moves them towards the global class prototypes by EMA, see
    :class:`~contrastor.losses.SemanticAnchors`). Zhou et al., "FedSA: A Unified
    Representation Learning via Semantic Anchors for Prototype-based Federated Learning",
    AAAI 2025 (their representation margin-enhanced contrastive term; the exact form here
    is the additive-margin InfoNCE over anchors).

    Args:
        embeddings: ``(n, d)``; labels: ``(n,)`` class ids in ``[0, C)``.
        anchors: ``(C, d)``, one per class (a gradient reaches them if they require one).
        margin: subtracted from the positive cosine (0: plain InfoNCE over anchors).

    Example:
        >>> loss = semantic_anchor_contrast(z, y, anchors, margin=0.2, temperature=0.1)
    """
    check_embeddings(anchors, "anchors")
    check_labels(labels, embeddings.shape[0])
    if labels.ndim != 1 or labels.is_floating_point():
        raise ValueError("labels must be integer class ids, one per sample")
    classes = anchors.shape[0]
    if labels.numel() and (int(labels.min()) < 0 or int(labels.max()) >= classes):
        raise ValueError(
            f"labels must lie in [0, {classes}): a label beyond the anchors has no positive"
        )
    return info_nce(
        embeddings,
        anchors,
        labels=labels,
        reference_labels=torch.arange(classes, device=labels.device),
        margin=margin,
        temperature=temperature,
        weights=weights,
        reduction=reduction,
        return_output=return_output,
    )


@full_precision
def proxy_contrast(
    embeddings: Tensor,
    labels: Tensor,
    proxies: Tensor,
    *,
    temperature: float | Tensor = 0.1,
    weights: Tensor | None = None,
    reduction: str = "mean",
    return_output: bool = False,
) -> Tensor | ContrastiveOutput:
    """Proxy-based contrast: each sample against the proxies (classifier weights) of the
    classes present in its batch only:

        L_i = -log( exp(cos(z_i, w_{y_i}) / tau) / sum_{c in C_B} exp(cos(z_i, w_c) / tau) )

    so classes absent from the batch (old tasks in continual learning, when the batch holds
    new and replayed samples) are not pushed down. Lin et al., "PCR: Proxy-based Contrastive
    Replay for Online Class-Incremental Continual Learning", CVPR 2023 (HPCR, its holistic
    extension, adds further terms).

    Args:
        embeddings: ``(n, d)``; labels: ``(n,)`` class ids; proxies: ``(C, d)``, trainable.
    """
    check_embeddings(proxies, "proxies")
    check_labels(labels, embeddings.shape[0])
    if labels.ndim != 1 or labels.is_floating_point():
        raise ValueError("labels must be integer class ids, one per sample")
    if labels.numel() and (int(labels.min()) < 0 or int(labels.max()) >= proxies.shape[0]):
        raise ValueError(
            f"labels must lie in [0, {proxies.shape[0]}): "
            "a label beyond the proxies has no positive"
        )
    present = torch.unique(labels)
    return info_nce(
        embeddings,
        proxies[present.to(proxies.device)],
        labels=labels,
        reference_labels=present,
        temperature=temperature,
        weights=weights,
        reduction=reduction,
        return_output=return_output,
    )


@torch.no_grad()
def class_prototypes(
    embeddings: Tensor, labels: Tensor, classes: int, *, normalize: bool = True
) -> tuple[Tensor, Tensor]:
    """Mean embedding of each class (of unit rows when ``normalize``) and the class counts;
    classes without samples get a zero row and count 0."""
    check_embeddings(embeddings, "embeddings")
    check_labels(labels, embeddings.shape[0])
    z = torch.nn.functional.normalize(embeddings, dim=1) if normalize else embeddings
    sums = z.new_zeros(classes, z.shape[1]).index_add_(0, labels, z)
    counts = torch.bincount(labels, minlength=classes).to(z.dtype)
    return sums / counts.clamp_min(1).unsqueeze(1), counts
