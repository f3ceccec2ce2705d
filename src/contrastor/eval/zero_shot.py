"""Zero-shot classification with a contrastive model: class embeddings from prompt
ensembles, accuracy of the nearest class."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from contrastor._validation import check_embeddings, check_labels


@torch.no_grad()
def prompt_ensemble(prompt_embeddings: Tensor) -> Tensor:
    """One unit vector per class from the embeddings of several prompts per class
    (``(C, P, d)``, e.g. "a photo of a {c}", "a drawing of a {c}"): the mean of the unit
    prompt embeddings, renormalised (Radford et al., CLIP, 2021, prompt ensembling)."""
    check_embeddings(prompt_embeddings, "prompt_embeddings", ndim=3)
    return F.normalize(F.normalize(prompt_embeddings, dim=-1).mean(1), dim=-1)


@torch.no_grad()
def zero_shot_accuracy(
    features: Tensor, labels: Tensor, class_embeddings: Tensor, *, ks: Sequence[int] = (1, 5)
) -> dict[str, float]:
    """Top-k accuracy of predicting each sample's class as the class embedding of highest
    cosine (class descriptions as the classifier: no labelled training). ``class_embeddings``
    ``(C, d)`` (e.g. :func:`prompt_ensemble`), or ``(C, P, d)``, which is ensembled first.
    Returns ``{"top1": ..., "top5": ...}`` for the ``ks`` not above the number of classes."""
    check_embeddings(features, "features")
    check_labels(labels, features.shape[0])
    if class_embeddings.ndim == 3:
        class_embeddings = prompt_ensemble(class_embeddings)
    check_embeddings(class_embeddings, "class_embeddings")
    classes = class_embeddings.shape[0]
    if class_embeddings.shape[1] != features.shape[1]:
        raise ValueError("features and class embeddings have different widths")
    if labels.numel() and (int(labels.min()) < 0 or int(labels.max()) >= classes):
        raise ValueError(f"labels must lie in [0, {classes}), the rows of class_embeddings")
    scores = F.normalize(features.double(), dim=1) @ F.normalize(class_embeddings.double(), dim=1).T
    kept = sorted({k for k in ks if 1 <= k <= classes})
    if not kept:
        raise ValueError(f"no k in {list(ks)} lies in [1, {classes}]")
    top = scores.topk(kept[-1], dim=1).indices.cpu()
    hit = top == labels.cpu()[:, None]
    return {f"top{k}": float(hit[:, :k].any(1).double().mean()) for k in kept}
