"""Redundancy-reduction objectives without negatives: Barlow Twins and VICReg.

Both are functions of batch statistics (feature means, variances, cross-correlations), so they
have no per-anchor form. DDP (``exchange``): every rank computes the loss of the gathered
global batch; gradients flow back through the gather, and DDP's gradient average then equals
the gradient of one process on the concatenated batch.
"""

from __future__ import annotations

import torch
from torch import Tensor

from contrastor._validation import check_positive, check_same_length
from contrastor.engine.precision import full_precision
from contrastor.engine.similarity import compute_dtype
from contrastor.functional._common import check_pair
from contrastor.scale.distributed import LOCAL, Exchange

__all__ = ["barlow_twins", "vicreg"]


def _global_pair(a: Tensor, b: Tensor, exchange: Exchange | None) -> tuple[Tensor, Tensor]:
    check_pair(a, b)
    check_same_length(a, b, ("a", "b"))
    ex = exchange or LOCAL
    a, b = ex.gather(a.to(compute_dtype(a.dtype))), ex.gather(b.to(compute_dtype(b.dtype)))
    if a.shape[0] < 2:
        raise ValueError("batch statistics need at least two samples in the (global) batch")
    return a, b


def _off_diagonal(m: Tensor) -> Tensor:
    return m - torch.diag_embed(torch.diagonal(m))


@full_precision
def barlow_twins(
    a: Tensor,
    b: Tensor,
    *,
    off_diagonal_weight: float = 5e-3,
    eps: float = 1e-5,
    return_terms: bool = False,
    exchange: Exchange | None = None,
) -> Tensor | tuple[Tensor, dict[str, Tensor]]:
    """Barlow Twins: make the cross-correlation of two views' features the identity.

    With each feature standardised over the batch (``(x - mean) / sqrt(var + eps)``, biased
    variance) and ``C = A^T B / n`` (``d x d``):

        L = sum_i (1 - C_ii)^2 + lambda * sum_{i != j} C_ij^2

    Zbontar et al., "Barlow Twins: Self-Supervised Learning via Redundancy Reduction",
    ICML 2021 (lambda = 5e-3). Inputs: ``a``, ``b`` ``(n, d)`` projector outputs of two views
    of the same samples. No negatives; needs ``n >= 2``.

    Example:
        >>> loss = barlow_twins(torch.randn(64, 32), torch.randn(64, 32))
        >>> loss, terms = barlow_twins(z1, z2, return_terms=True)  # on/off-diagonal parts
    """
    if off_diagonal_weight < 0:
        raise ValueError(f"off_diagonal_weight must be >= 0, got {off_diagonal_weight}")
    check_positive(eps, "eps")
    a, b = _global_pair(a, b, exchange)
    n = a.shape[0]

    def standardise(x: Tensor) -> Tensor:
        return (x - x.mean(0)) / torch.sqrt(x.var(0, unbiased=False) + eps)

    c = standardise(a).T @ standardise(b) / n
    on = ((1.0 - torch.diagonal(c)) ** 2).sum()
    off = (_off_diagonal(c) ** 2).sum()
    loss = on + off_diagonal_weight * off
    return (loss, {"on_diagonal": on, "off_diagonal": off}) if return_terms else loss


@full_precision
def vicreg(
    a: Tensor,
    b: Tensor,
    *,
    invariance_weight: float = 25.0,
    variance_weight: float = 25.0,
    covariance_weight: float = 1.0,
    target_std: float = 1.0,
    eps: float = 1e-4,
    return_terms: bool = False,
    exchange: Exchange | None = None,
) -> Tensor | tuple[Tensor, dict[str, Tensor]]:
    """VICReg: invariance + variance + covariance regularisation of two views' features.

        inv = mean_{i, k} (a_ik - b_ik)^2
        var = 1/2 sum_{x in a, b} mean_k relu(gamma - sqrt(Var(x_k) + eps))
        cov = sum_{x in a, b} sum_{k != l} Cov(x)_kl^2 / d
        L   = lambda * inv + mu * var + nu * cov

    (unbiased variance and covariance over the batch). Bardes et al., "VICReg:
    Variance-Invariance-Covariance Regularization for Self-Supervised Learning", ICLR 2022
    (lambda = mu = 25, nu = 1, gamma = 1). Inputs: ``(n, d)`` projector outputs, ``n >= 2``.

    Example:
        >>> loss = vicreg(torch.randn(64, 32), torch.randn(64, 32))
    """
    for value, name in [
        (invariance_weight, "invariance_weight"),
        (variance_weight, "variance_weight"),
        (covariance_weight, "covariance_weight"),
    ]:
        if value < 0:
            raise ValueError(f"{name} must be >= 0, got {value}")
    check_positive(target_std, "target_std")
    check_positive(eps, "eps")
    a, b = _global_pair(a, b, exchange)
    n, d = a.shape
    invariance = ((a - b) ** 2).mean()
    variance = a.new_zeros(())
    covariance = a.new_zeros(())
    for x in (a, b):
        x = x - x.mean(0)
        std = torch.sqrt(x.var(0) + eps)
        variance = variance + torch.relu(target_std - std).mean() / 2
        cov = x.T @ x / (n - 1)
        covariance = covariance + (_off_diagonal(cov) ** 2).sum() / d
    loss = (
        invariance_weight * invariance + variance_weight * variance + covariance_weight * covariance
    )
    terms = {"invariance": invariance, "variance": variance, "covariance": covariance}
    return (loss, terms) if return_terms else loss
