"""A linear map from one view of an item to another, as a non-learned baseline for
cross-modal retrieval: ridge regression with its penalty chosen by exact leave-one-out
error on the training pairs (never on held-out data)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from contrastor._validation import check_embeddings, check_same_length

#: the penalties tried, relative to the mean squared singular value of the centred inputs
RELATIVE_ALPHAS = tuple(10.0**p for p in range(-6, 3))


@dataclass
class RidgeMap:
    """``y ≈ x @ weight + bias``; ``alpha``: the penalty chosen; ``loo_error``: its mean
    squared leave-one-out error per output."""

    weight: Tensor
    bias: Tensor
    alpha: float
    loo_error: float

    def __call__(self, x: Tensor) -> Tensor:
        return (x.flatten(1).double() @ self.weight + self.bias).to(x.dtype)


@torch.no_grad()
def ridge_map(x: Tensor, y: Tensor, alphas: Sequence[float] | None = None) -> RidgeMap:
    """Ridge regression from ``x`` ``(n, ...)`` to ``y`` ``(n, ...)`` (flattened), with an
    unpenalised intercept and the penalty ``alpha`` of least leave-one-out error.

    With the centred inputs ``X = U S V^T``, the hat matrix is
    ``H = U diag(s^2 / (s^2 + alpha)) U^T`` (plus ``1/n`` for the intercept), and the exact
    leave-one-out residual of sample ``i`` is ``(y_i - yhat_i) / (1 - H_ii)`` (Allen 1974), so
    every penalty is scored from one SVD. ``alphas`` default: :data:`RELATIVE_ALPHAS` times
    the mean of ``s^2``. Computed in float64.

    Example:
        >>> top_to_bottom = ridge_map(train_top, train_bottom)
        >>> scores = retrieval_metrics(top_to_bottom(test_top), test_bottom.flatten(1))
    """
    x2, y2 = x.flatten(1).double(), y.flatten(1).double()
    check_embeddings(x2, "x")
    check_embeddings(y2, "y")
    check_same_length(x2, y2, ("x", "y"))
    n = x2.shape[0]
    if n < 3:
        raise ValueError(f"ridge_map needs at least 3 pairs, got {n}")
    x_mean, y_mean = x2.mean(0), y2.mean(0)
    xc, yc = x2 - x_mean, y2 - y_mean
    u, s, vh = torch.linalg.svd(xc, full_matrices=False)
    s2 = s.square()
    grid = [float(a) for a in alphas] if alphas is not None else None
    if grid is None:
        grid = [a * float(s2.mean()) for a in RELATIVE_ALPHAS]
    if not grid or min(grid) <= 0:
        raise ValueError(f"alphas must be positive, got {grid}")
    projected = u.T @ yc

    def loo_error(alpha: float) -> float:
        shrink = s2 / (s2 + alpha)
        fitted = u @ (shrink[:, None] * projected)
        leverage = (u.square() * shrink).sum(1) + 1.0 / n
        return float((((yc - fitted) / (1.0 - leverage)[:, None]).square()).mean())

    errors = {alpha: loo_error(alpha) for alpha in grid}
    alpha = min(errors, key=errors.__getitem__)
    error = errors[alpha]
    weight = vh.T @ ((s / (s2 + alpha))[:, None] * projected)
    return RidgeMap(weight, y_mean - x_mean @ weight, alpha, error)
