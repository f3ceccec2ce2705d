"""Linear probe: multinomial logistic regression on frozen, standardised features."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from contrastor._validation import check_embeddings, check_labels, check_same_dim


def fit_logistic(
    x: Tensor, y: Tensor, classes: int, weight_decay: float = 1e-4, max_iter: int = 100
) -> Tensor:
    """Full-batch L-BFGS fit of ``W`` (d+1, C) minimising CE + weight_decay/2 * ||W||^2."""
    w = torch.zeros(x.shape[1] + 1, classes, dtype=x.dtype, requires_grad=True)
    xb = torch.cat([x, torch.ones(x.shape[0], 1, dtype=x.dtype)], 1)
    opt = torch.optim.LBFGS(
        [w],
        lr=1.0,
        max_iter=max_iter,
        history_size=20,
        line_search_fn="strong_wolfe",
        tolerance_grad=1e-6,
        tolerance_change=1e-9,
    )

    def closure() -> Tensor:
        opt.zero_grad()
        loss = F.cross_entropy(xb @ w, y) + 0.5 * weight_decay * (w[:-1] ** 2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    return w.detach()


def _predict(w: Tensor, x: Tensor) -> Tensor:
    return (x @ w[:-1] + w[-1]).argmax(1)


def linear_probe(
    train: Tensor,
    train_labels: Tensor,
    test: Tensor,
    test_labels: Tensor,
    *,
    weight_decays: Sequence[float] = (1e-4, 1e-3, 1e-2, 1e-1),
    validation_fraction: float = 0.2,
    max_iter: int = 300,
    seed: int = 0,
) -> dict[str, float]:
    """Test accuracy of a linear classifier trained on frozen features.

    Features are standardised with the training mean and deviation; the L2 strength is
    chosen on a held-out ``validation_fraction`` of the training set, then the classifier is
    refit on all of it. Deterministic for a given ``seed``.

    Returns ``{"accuracy": ..., "weight_decay": chosen, "validation_accuracy": ...}``.

    Example:
        >>> linear_probe(train_emb, train_y, test_emb, test_y)["accuracy"]
    """
    check_embeddings(train, "train")
    check_embeddings(test, "test")
    check_same_dim(train, test, ("train", "test"))
    check_labels(train_labels, train.shape[0], "train_labels")
    check_labels(test_labels, test.shape[0], "test_labels")
    if not 0.0 < validation_fraction < 1.0:
        raise ValueError(f"validation_fraction must be in (0, 1), got {validation_fraction}")
    x = train.detach().double().cpu()
    t = test.detach().double().cpu()
    mean, std = x.mean(0), x.std(0).clamp_min(1e-8)
    x, t = (x - mean) / std, (t - mean) / std
    y, yt = train_labels.long().cpu(), test_labels.long().cpu()
    classes = int(max(y.max(), yt.max())) + 1
    perm = torch.randperm(len(y), generator=torch.Generator().manual_seed(seed))
    n_val = max(1, int(len(y) * validation_fraction))
    val, fit = perm[:n_val], perm[n_val:]
    scores = {}
    with torch.enable_grad():
        for wd in weight_decays:
            w = fit_logistic(x[fit], y[fit], classes, wd, max_iter)
            scores[wd] = float((_predict(w, x[val]) == y[val]).double().mean())
        best = max(weight_decays, key=lambda wd: (scores[wd], wd))
        w = fit_logistic(x, y, classes, best, max_iter)
    accuracy = float((_predict(w, t) == yt).double().mean())
    return {"accuracy": accuracy, "weight_decay": best, "validation_accuracy": scores[best]}
