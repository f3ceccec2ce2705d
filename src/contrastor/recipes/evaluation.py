"""Held-out evaluation shared by the recipes: kNN and linear-probe accuracy of frozen
features, and an encoder's features computed in eval mode, a chunk at a time."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

from contrastor.eval import knn_accuracy, linear_probe


def classify_features(
    train: Tensor, train_y: Tensor, test: Tensor, test_y: Tensor, k: int = 10
) -> dict[str, float]:
    """kNN (cosine, ``k`` neighbours) and linear-probe test accuracy of frozen features."""
    return {
        "knn_accuracy": knn_accuracy(train, train_y, test, test_y, k=k),
        "linear_probe_accuracy": linear_probe(train, train_y, test, test_y)["accuracy"],
    }


@torch.no_grad()
def features_of(
    module: nn.Module, fn: Callable[[Tensor], Tensor], x: Tensor, chunk: int = 1024
) -> Tensor:
    """``fn`` over ``x`` in chunks with ``module`` in eval mode (training mode restored)."""
    was_training = module.training
    module.eval()
    out = torch.cat([fn(x[i : i + chunk]).float() for i in range(0, len(x), chunk)])
    module.train(was_training)
    return out
