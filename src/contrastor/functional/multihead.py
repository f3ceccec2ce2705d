"""Adaptive multi-head contrastive learning (AMCL): several projection heads, each positive
and negative pair with its own learned temperature, regularised against degenerate values."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from contrastor._validation import check_embeddings
from contrastor.engine.output import ContrastiveOutput
from contrastor.engine.precision import full_precision
from contrastor.engine.similarity import compute_dtype, unit_rows
from contrastor.functional._common import finish

__all__ = ["amcl", "pair_temperatures"]


@full_precision
def pair_temperatures(
    phi: nn.Module, a: Tensor, b: Tensor, temperature_range: tuple[float, float]
) -> Tensor:
    """``tau(a_i, b_j) = tau_min + (tau_max - tau_min) * sigmoid(-phi(a_i) . phi(b_j))`` for
    every pair, ``(len(a), len(b))``: similar-looking pairs get low temperatures."""
    low, high = temperature_range
    return low + (high - low) * torch.sigmoid(-(phi(a) @ phi(b).T))


@full_precision
def amcl(
    view_a: Tensor,
    view_b: Tensor,
    phi: nn.Module,
    *,
    beta: float = 0.01,
    temperature_range: tuple[float, float] = (1e-5, 2.0),
    topk: int = 100,
    weights: Tensor | None = None,
    reduction: str = "mean",
    return_output: bool = False,
) -> Tensor | ContrastiveOutput:
    """AMCL on SimCLR: a sum over projection heads of a pair-adaptive-temperature loss.

    For head h, anchor a (a view of sample i, L2-normalised), its positive p (the other view)
    and the ``topk`` most similar of its ``2n - 2`` negatives K_a, with ``tau_ab`` from
    :func:`pair_temperatures` (``phi`` shared by all heads) and ``Omega(tau) = d/2 log tau +
    1/tau``:

        L_a^h = -s_ap / tau_ap + mean_{k in K_a} s_ak / tau_ak
                + beta * Omega(tau_ap) - beta * sum_{k in K_a} (log tau_ak + 1 / tau_ak)

    and ``L_a = sum_h L_a^h``. The positive regulariser is smallest at ``tau = 2 / d``; the
    negative one, subtracted, falls without bound as ``tau -> 0``, so in training the
    temperatures settle at ``tau_min`` and the loss acts as the linear contrast
    ``-s_ap + mean_k s_ak`` scaled by ``1 / tau_min`` (raise ``temperature_range[0]`` to bound it).
    Wang, Koniusz, Gedeon & Zheng, "Adaptive Multi-head Contrastive Learning", ECCV 2024
    (the top-k approximation of its SimCLR objective, as in the authors' code).
    ``view_a``, ``view_b``: ``(n, H, d)`` head outputs of the two views; ``phi``: a module
    ``R^d -> R^d'``. Per-anchor output ``(n, 2)``; dense; single process.

    Example:
        >>> phi = nn.Sequential(nn.Linear(32, 32), nn.ReLU(), nn.Linear(32, 32))
        >>> loss = amcl(z1.reshape(n, 4, 32), z2.reshape(n, 4, 32), phi)
    """
    check_embeddings(view_a, "view_a", ndim=3)
    check_embeddings(view_b, "view_b", ndim=3)
    if view_a.shape != view_b.shape:
        raise ValueError(
            f"view_a and view_b must have the same shape, got {tuple(view_a.shape)} and "
            f"{tuple(view_b.shape)}"
        )
    n, heads, d = view_a.shape
    if n < 2:
        raise ValueError("AMCL needs at least two samples (no negatives)")
    if topk < 1 or beta < 0 or not 0 < temperature_range[0] < temperature_range[1]:
        raise ValueError("need topk >= 1, beta >= 0 and 0 < tau_min < tau_max")
    dtype = compute_dtype(view_a.dtype)
    rows = torch.arange(2 * n, device=view_a.device)
    partner = (rows + n) % (2 * n)
    negative = (rows[:, None] != rows[None, :]) & (partner[:, None] != rows[None, :])
    k = min(topk, 2 * n - 2)
    total = torch.zeros(2 * n, dtype=dtype, device=view_a.device)
    for h in range(heads):
        z = unit_rows(torch.cat([view_a[:, h], view_b[:, h]]).to(dtype))
        sims = z @ z.T
        tau = pair_temperatures(phi, z, z, temperature_range).to(dtype)
        positive = sims[rows, partner] / tau[rows, partner]
        values, idx = sims.masked_fill(~negative, -torch.inf).topk(k, dim=1)
        tau_k = tau.gather(1, idx)
        tau_p = tau[rows, partner]
        omega = 0.5 * d * torch.log(tau_p) + 1.0 / tau_p
        total = (
            total
            - positive
            + (values / tau_k).mean(1)
            + beta * omega
            - beta * (torch.log(tau_k) + 1.0 / tau_k).sum(1)
        )
    per_anchor = total.reshape(2, n).T
    output = ContrastiveOutput(per_anchor, torch.ones_like(per_anchor, dtype=torch.bool), {})
    if weights is not None:
        weights = weights.reshape(-1, 1).expand(n, 2)
    return finish(output, reduction, weights, return_output)
