"""Shuffled group whitening and the whitening-based contrastive loss (WhitenedCSE)."""

from __future__ import annotations

import torch
from torch import Tensor

from contrastor._validation import check_embeddings, check_positive
from contrastor.engine.output import ContrastiveOutput
from contrastor.engine.precision import full_precision
from contrastor.engine.similarity import compute_dtype
from contrastor.engine.views import stack_views
from contrastor.functional.supcon import Views, nt_xent
from contrastor.scale.distributed import Exchange

__all__ = ["shuffled_group_whitening", "whitened_contrastive"]


@full_precision
def shuffled_group_whitening(
    x: Tensor,
    *,
    groups: int = 1,
    eps: float = 1e-5,
    shuffle: bool = True,
    generator: torch.Generator | None = None,
) -> Tensor:
    """ZCA-whiten a batch within channel groups, the channels first shuffled at random.

    Channels are permuted (``shuffle``), split into ``groups`` equal groups; each group is
    centred and multiplied by ``Sigma^{-1/2} = U diag((lambda + eps)^{-1/2}) U^T`` of its batch
    covariance (divided by n); the permutation is then undone. Different permutations give
    different whitened "views" of the same batch. Differentiable (eigendecomposition
    backward); ``d / groups`` should stay below the batch size. Zhuo et al.,
    "WhitenedCSE: Whitening-based Contrastive Learning of Sentence Embeddings", ACL 2023.

    Example:
        >>> w = shuffled_group_whitening(torch.randn(256, 64), groups=4)
    """
    check_embeddings(x, "x")
    check_positive(eps, "eps")
    n, d = x.shape
    if groups < 1 or d % groups:
        raise ValueError(f"groups must divide the {d} channels, got {groups}")
    if n < 2:
        raise ValueError("whitening needs at least two samples")
    x = x.to(compute_dtype(x.dtype))
    order = (
        torch.randperm(d, generator=generator).to(x.device)
        if shuffle
        else torch.arange(d, device=x.device)
    )
    grouped = x[:, order].reshape(n, groups, d // groups).transpose(0, 1)  # G, n, d/G
    centred = grouped - grouped.mean(1, keepdim=True)
    cov = centred.transpose(1, 2) @ centred / n
    values, vectors = torch.linalg.eigh(cov)
    inverse_root = vectors @ torch.diag_embed((values + eps).rsqrt()) @ vectors.transpose(1, 2)
    white = (centred @ inverse_root).transpose(0, 1).reshape(n, d)
    return white[:, torch.argsort(order)]


@full_precision
def whitened_contrastive(
    features: Views,
    *,
    temperature: float | Tensor = 0.05,
    groups: int = 1,
    eps: float = 1e-5,
    generator: torch.Generator | None = None,
    similarity: str = "cosine",
    weights: Tensor | None = None,
    reduction: str = "mean",
    return_output: bool = False,
    execution: str = "auto",
    tile_size: int | None = None,
    exchange: Exchange | None = None,
) -> Tensor | ContrastiveOutput:
    """WhitenedCSE: each view is whitened by :func:`shuffled_group_whitening` with its own
    channel shuffle, then all whitened views of a sample are positives of each other
    (multi-positive NT-Xent, cosine similarity). Whitening spreads the batch (uniformity);
    the shuffles give distinct positives (alignment). Zhuo et al., ACL 2023. ``features``:
    ``(n, V, d)`` or a list of views (e.g. dropout views of sentences); whitening statistics
    are this rank's batch. Per-anchor output ``(n, V)``.

    Example:
        >>> loss = whitened_contrastive(torch.stack([z1, z2, z3], 1), groups=4)
    """
    stacked, n, views = stack_views(features, "features")
    white = [
        shuffled_group_whitening(v, groups=groups, eps=eps, generator=generator)
        for v in stacked.reshape(views, n, -1)
    ]
    return nt_xent(
        white,
        temperature=temperature,
        similarity=similarity,
        weights=weights,
        reduction=reduction,
        return_output=return_output,
        execution=execution,
        tile_size=tile_size,
        exchange=exchange,
    )
