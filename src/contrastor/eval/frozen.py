"""Evaluation of frozen encoders: embeddings computed in eval mode a chunk at a time, and the
kNN and linear-probe accuracy of frozen features."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from contrastor.eval.geometry import alignment_score, effective_rank, uniformity_score
from contrastor.eval.knn import knn_accuracy
from contrastor.eval.linear_probe import linear_probe


@torch.no_grad()
def embed_in_chunks(
    module: nn.Module, fn: Callable[[Any], Tensor], x: Tensor | Sequence[Any], chunk: int = 1024
) -> Tensor:
    """``fn`` over ``x`` (a tensor or a list) in chunks, with ``module`` in eval mode and its
    training mode restored after; the result is float32 on the CPU."""
    was_training = module.training
    module.eval()
    out = torch.cat([fn(x[i : i + chunk]).float().cpu() for i in range(0, len(x), chunk)])
    module.train(was_training)
    return out


def feature_accuracy(
    train: Tensor, train_y: Tensor, test: Tensor, test_y: Tensor, k: int = 10
) -> dict[str, float]:
    """kNN (cosine, ``k`` neighbours) and linear-probe test accuracy of frozen features."""
    return {
        "knn_accuracy": knn_accuracy(train, train_y, test, test_y, k=k),
        "linear_probe_accuracy": linear_probe(train, train_y, test, test_y)["accuracy"],
    }


def view_geometry(first: Tensor, second: Tensor) -> dict[str, float]:
    """What can be measured without labels: alignment of two views' features, uniformity
    and effective rank of the first (Wang & Isola, ICML 2020; Roy & Vetterli, 2007)."""
    return {
        "alignment": alignment_score(first, second),
        "uniformity": uniformity_score(first),
        "effective_rank": effective_rank(first),
    }
