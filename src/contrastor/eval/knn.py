"""k-nearest-neighbour classification on frozen embeddings (cosine, weighted votes)."""

from __future__ import annotations

import torch
from torch import Tensor

from contrastor._validation import check_embeddings, check_labels, check_same_dim
from contrastor.eval._chunks import chunked_topk, query_chunks

WEIGHTINGS = ("exp", "uniform")


@torch.no_grad()
def knn_predict(
    train: Tensor,
    train_labels: Tensor,
    test: Tensor,
    *,
    k: int = 20,
    temperature: float = 0.07,
    weighting: str = "exp",
    similarity: str = "cosine",
    exclude_self: bool = False,
) -> Tensor:
    """Predicted class of each test embedding by a weighted vote of its ``k`` nearest
    training embeddings. ``exp`` weights a neighbour by ``exp(s / temperature)`` (closer votes
    count more, as in Wu et al., "Unsupervised Feature Learning via Non-Parametric Instance
    Discrimination", 2018); ``uniform`` is a plain majority vote. ``exclude_self``: leave-one-
    out, when ``test`` is ``train``."""
    check_embeddings(train, "train")
    check_embeddings(test, "test")
    check_same_dim(train, test, ("train", "test"))
    check_labels(train_labels, train.shape[0], "train_labels")
    if weighting not in WEIGHTINGS:
        raise ValueError(f"weighting must be one of {WEIGHTINGS}, got {weighting!r}")
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    if exclude_self and train.shape[0] != test.shape[0]:
        raise ValueError("exclude_self needs test to be the training set")
    labels = train_labels.to(train.device).long()
    classes = int(labels.max()) + 1
    predictions = []
    for rows in query_chunks(test.shape[0], k + 8192, None):
        exclude = torch.arange(rows.start, rows.stop, device=test.device) if exclude_self else None
        scores, idx = chunked_topk(test[rows], train, k, similarity=similarity, exclude=exclude)
        weight = (
            torch.exp((scores - 1.0) / temperature)
            if weighting == "exp"
            else torch.ones_like(scores)
        )
        votes = torch.zeros(scores.shape[0], classes, dtype=scores.dtype, device=scores.device)
        votes.scatter_add_(1, labels[idx], weight)
        predictions.append(votes.argmax(1))
    return torch.cat(predictions)


def knn_accuracy(
    train: Tensor,
    train_labels: Tensor,
    test: Tensor,
    test_labels: Tensor,
    **kwargs,
) -> float:
    """Fraction of ``test`` classified correctly by :func:`knn_predict` (same keywords).

    Example:
        >>> acc = knn_accuracy(train_emb, train_y, test_emb, test_y, k=20)
    """
    check_labels(test_labels, test.shape[0], "test_labels")
    predicted = knn_predict(train, train_labels, test, **kwargs)
    return float((predicted.cpu() == test_labels.cpu().long()).double().mean())
