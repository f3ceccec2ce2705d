"""Feature-space mixing: synthetic hard negatives mixed from the hardest real ones (MoCHi),
positives extrapolated apart and negatives interpolated (feature transformation)."""

from __future__ import annotations

import torch
from torch import Tensor

from contrastor.engine.precision import full_precision
from contrastor.engine.similarity import compute_dtype, unit_rows
from contrastor.functional._common import check_pair

__all__ = ["extrapolate_positives", "interpolate_negatives", "mix_hard_negatives"]


@torch.no_grad()
@full_precision
def mix_hard_negatives(
    query: Tensor,
    negatives: Tensor,
    *,
    hardest: int = 64,
    mixed: int = 16,
    query_mixed: int = 8,
    query_weight_max: float = 0.5,
    exclude: Tensor | None = None,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Per-query synthetic hard negatives, ``(n, mixed + query_mixed, d)``, without gradient.

    For query ``q`` the ``hardest`` negatives by cosine similarity are ranked; ``mixed``
    points ``h = normalize(a n_i + (1 - a) n_j)`` (``a ~ U(0, 1)``, ``n_i, n_j`` drawn from the
    hardest) and ``query_mixed`` harder points ``h' = normalize(b q + (1 - b) n_j)``
    (``b ~ U(0, query_weight_max)``) are made. Pass them to
    :func:`~contrastor.functional.info_nce` as ``anchor_negatives``. ``negatives`` ``(m, d)``
    is a queue or the batch's keys; ``exclude`` ``(n,)`` gives each query's own positive among
    them (never used for mixing).

    Kalantidis et al., "Hard Negative Mixing for Contrastive Learning", NeurIPS 2020.

    Example:
        >>> extra = mix_hard_negatives(q, queue.features_in_use(), hardest=128, mixed=32)
        >>> loss = info_nce(q, torch.cat([k, queue.features_in_use()]), anchor_negatives=extra)
    """
    check_pair(query, negatives)
    if hardest < 1 or mixed < 0 or query_mixed < 0 or mixed + query_mixed == 0:
        raise ValueError("need hardest >= 1 and at least one mixed or query-mixed negative")
    if not 0.0 <= query_weight_max <= 1.0:
        raise ValueError(f"query_weight_max must be in [0, 1], got {query_weight_max}")
    dtype = compute_dtype(query.dtype)
    q = unit_rows(query.to(dtype))
    negs = unit_rows(negatives.to(dtype))
    n, m = q.shape[0], negs.shape[0]
    scores = q @ negs.T
    if exclude is not None:
        if exclude.shape != (n,):
            raise ValueError(f"exclude must have shape ({n},), got {tuple(exclude.shape)}")
        scores[torch.arange(n, device=q.device), exclude.to(q.device)] = float("-inf")
    available = m - (0 if exclude is None else 1)
    if available < 1:
        raise ValueError("no negatives left to mix")
    k = min(hardest, available)
    top = scores.topk(k, dim=1).indices

    def draw(count: int) -> Tensor:
        picks = torch.randint(0, k, (n, count), generator=generator, device="cpu").to(q.device)
        return negs[top.gather(1, picks)]

    def uniform(count: int, high: float) -> Tensor:
        u = torch.rand(n, count, 1, generator=generator, dtype=torch.float64)
        return (u * high).to(q)

    parts = []
    if mixed:
        a = uniform(mixed, 1.0)
        parts.append(a * draw(mixed) + (1 - a) * draw(mixed))
    if query_mixed:
        b = uniform(query_mixed, query_weight_max)
        parts.append(b * q[:, None, :] + (1 - b) * draw(query_mixed))
    return unit_rows(torch.cat(parts, 1))


def _beta(alpha: float, shape: tuple[int, ...], generator: torch.Generator | None) -> Tensor:
    """Draws from Beta(alpha, alpha) through two Gamma draws made with ``generator``."""
    if not alpha > 0:
        raise ValueError(f"alpha must be positive, got {alpha}")
    a = torch._standard_gamma(torch.full(shape, float(alpha), dtype=torch.float64), generator)
    b = torch._standard_gamma(torch.full(shape, float(alpha), dtype=torch.float64), generator)
    return a / (a + b)


def extrapolate_positives(
    query: Tensor, key: Tensor, *, alpha: float = 2.0, generator: torch.Generator | None = None
) -> tuple[Tensor, Tensor]:
    """Harder positives by extrapolation: with ``lam = 1 + Beta(alpha, alpha)`` per pair,
    ``q' = lam q + (1 - lam) k`` and ``k' = lam k + (1 - lam) q`` move the two views apart
    along their difference (gradients flow through both); a larger ``alpha`` concentrates
    ``lam`` near 1.5. Zhu et al., "Improving Contrastive Learning by Visualizing Feature
    Transformation", ICCV 2021 (choose ``alpha`` on your validation split)."""
    check_pair(query, key)
    if query.shape != key.shape:
        raise ValueError("query and key must have the same shape")
    lam = (1.0 + _beta(alpha, (query.shape[0], 1), generator)).to(query)
    return lam * query + (1 - lam) * key, lam * key + (1 - lam) * query


def interpolate_negatives(
    negatives: Tensor, *, alpha: float = 2.0, generator: torch.Generator | None = None
) -> Tensor:
    """More diverse negatives by interpolation: ``n'_i = mu n_i + (1 - mu) n_pi(i)`` with
    ``mu ~ Beta(alpha, alpha)`` and ``pi`` a random permutation (e.g. of a MoCo queue),
    without gradient. Zhu et al., ICCV 2021."""
    if negatives.ndim != 2 or negatives.shape[0] == 0:
        raise ValueError("negatives must be a non-empty (m, d) matrix")
    m = negatives.shape[0]
    mu = _beta(alpha, (m, 1), generator).to(negatives)
    order = torch.randperm(m, generator=generator).to(negatives.device)
    return (mu * negatives + (1 - mu) * negatives[order]).detach()
