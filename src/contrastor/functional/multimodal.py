"""Objectives over several modalities on the InfoNCE engine: CLIP over every pair of
modalities, alignment of views with an anchor modality, inputs mixed across samples, and
shared/unique decompositions kept orthogonal."""

from __future__ import annotations

from collections.abc import Sequence
from itertools import combinations

import torch
from torch import Tensor

from contrastor._validation import check_embedding_list, check_embeddings
from contrastor.engine.output import ContrastiveOutput, weighted_sum
from contrastor.engine.precision import full_precision
from contrastor.engine.similarity import compute_dtype, unit_rows
from contrastor.functional._common import finish
from contrastor.functional.infonce import info_nce
from contrastor.scale.distributed import LOCAL, Exchange

__all__ = ["anchor_alignment", "mixup_contrastive", "orthogonal_shared_unique", "pairwise_clip"]


def _same_shape(tensors: Sequence[Tensor], name: str, least: int) -> None:
    if len(tensors) < least:
        raise ValueError(f"{name} needs at least {least} tensors, got {len(tensors)}")
    check_embedding_list(tensors, name)


@full_precision
def pairwise_clip(
    modalities: Sequence[Tensor],
    *,
    temperature: float | Tensor = 0.07,
    similarity: str = "cosine",
    weights: Tensor | None = None,
    reduction: str = "mean",
    return_output: bool = False,
    execution: str = "auto",
    tile_size: int | None = None,
    exchange: Exchange | None = None,
) -> Tensor | ContrastiveOutput:
    """CLIP over every pair of M >= 2 modalities of the same samples:

        L_i = 2 / (M (M - 1)) sum_{m < m'} CLIP_i(z^m, z^m')

    the pairwise baseline that higher-order objectives (:func:`symile`) are compared with
    (one space for several modalities, as in "MoRE: Multi-Modal Contrastive Pre-training with
    Transformers on X-Rays, ECGs, and Diagnostic Report"). Each term is the symmetric
    InfoNCE (tiled and DDP paths apply). Per-sample output ``(n,)``.

    Example:
        >>> loss = pairwise_clip([image_emb, text_emb, audio_emb], temperature=0.05)
    """
    _same_shape(modalities, "modalities", 2)
    run = {
        "temperature": temperature,
        "similarity": similarity,
        "symmetric": True,
        "reduction": "none",
        "return_output": True,
        "execution": execution,
        "tile_size": tile_size,
        "exchange": exchange,
    }
    outputs = [info_nce(a, b, **run) for a, b in combinations(modalities, 2)]
    return finish(weighted_sum(outputs), reduction, weights, return_output, exchange or LOCAL)


@full_precision
def anchor_alignment(
    anchor: Tensor,
    views: Sequence[Tensor],
    *,
    temperature: float | Tensor = 0.07,
    detach_anchor: bool = False,
    symmetric: bool = True,
    similarity: str = "cosine",
    weights: Tensor | None = None,
    reduction: str = "mean",
    return_output: bool = False,
    execution: str = "auto",
    tile_size: int | None = None,
    exchange: Exchange | None = None,
) -> Tensor | ContrastiveOutput:
    """Align several views (modalities, semantic representations) with one anchor view:

        L_i = 1/M sum_m InfoNCE_i(anchor, view^m)

    so that at inference the anchor's encoder alone gives the shared space (e.g. embeddings
    from coordinates alone after aligning satellite and map views with them).
    ``detach_anchor`` stops the gradient into the anchor (the views move to it);
    ``symmetric`` uses both directions of each term. After "Semantic Item Graph Enhancement
    for Multimodal Recommendation" and "A multi-view contrastive learning framework for
    spatial embeddings in risk modelling". Per-sample output ``(n,)``.

    Example:
        >>> loss = anchor_alignment(location_emb, [satellite_emb, map_emb])
    """
    check_embeddings(anchor, "anchor")
    _same_shape(views, "views", 1)
    if tuple(views[0].shape) != tuple(anchor.shape):
        raise ValueError(f"views must have the anchor's shape {tuple(anchor.shape)}")
    target = anchor.detach() if detach_anchor else anchor
    run = {
        "temperature": temperature,
        "similarity": similarity,
        "symmetric": symmetric,
        "reduction": "none",
        "return_output": True,
        "execution": execution,
        "tile_size": tile_size,
        "exchange": exchange,
    }
    outputs = [info_nce(target, view, **run) for view in views]
    return finish(weighted_sum(outputs), reduction, weights, return_output, exchange or LOCAL)


@full_precision
def mixup_contrastive(
    mixed: Tensor,
    other: Tensor,
    permutation: Tensor,
    lam: float | Tensor,
    *,
    temperature: float | Tensor = 0.1,
    symmetric: bool = True,
    similarity: str = "cosine",
    weights: Tensor | None = None,
    reduction: str = "mean",
    return_output: bool = False,
    execution: str = "auto",
    tile_size: int | None = None,
) -> Tensor | ContrastiveOutput:
    """Contrast embeddings of mixed inputs of one modality with the other modality:
    input ``i`` was mixed as ``lam x_i + (1 - lam) x_{pi(i)}``, so its soft target over the
    other modality's batch is ``lam`` on sample ``i`` and ``1 - lam`` on ``pi(i)``:

        L_i = -sum_j t_ij log softmax_j( s(mixed_i, other_j) / tau ),
        t_ij = lam_i [j = i] + (1 - lam_i) [j = pi(i)]

    (``symmetric``: the other modality's anchors use the transposed targets too), learning
    relations shared beyond the one-to-one pairs. After Kumar et al., "Harnessing Shared
    Relations via Multimodal Mixup Contrastive Learning for Multimodal Classification"
    (M3CoL), 2024. ``lam``: one number or one per sample; ``permutation``: ``(n,)``.

    Example:
        >>> perm = torch.randperm(n); lam = 0.7
        >>> mixed_emb = image_encoder(lam * images + (1 - lam) * images[perm])
        >>> loss = mixup_contrastive(mixed_emb, text_emb, perm, lam)
    """
    check_embeddings(mixed, "mixed")
    n = mixed.shape[0]
    if other.shape[0] != n or permutation.shape != (n,):
        raise ValueError(f"other must have {n} rows and permutation shape ({n},)")
    if not torch.equal(torch.sort(permutation.cpu()).values, torch.arange(n)):
        raise ValueError("permutation must be a permutation of range(n)")
    lam = torch.as_tensor(lam, dtype=compute_dtype(mixed.dtype), device=mixed.device)
    if lam.ndim > 1 or (lam.ndim == 1 and lam.shape != (n,)):
        raise ValueError(f"lam must be one number or one per sample ({n},)")
    if not bool(((lam >= 0) & (lam <= 1)).all()):
        raise ValueError("lam must lie in [0, 1]")
    rows = torch.arange(n, device=mixed.device)
    targets = torch.zeros(n, n, dtype=lam.dtype, device=mixed.device)
    lam = lam.expand(n)
    targets[rows, rows] += lam
    targets[rows, permutation.to(mixed.device)] += 1.0 - lam
    return info_nce(
        mixed,
        other,
        temperature=temperature,
        targets=targets,
        symmetric=symmetric,
        similarity=similarity,
        weights=weights,
        reduction=reduction,
        return_output=return_output,
        execution=execution,
        tile_size=tile_size,
    )


@full_precision
def orthogonal_shared_unique(
    shared: Sequence[Tensor],
    unique: Sequence[Tensor],
    *,
    temperature: float | Tensor = 0.07,
    orthogonality_weight: float = 1.0,
    return_terms: bool = False,
) -> Tensor | tuple[Tensor, dict[str, Tensor]]:
    """Decompose each modality into a shared and a unique part: the shared parts of every
    pair of modalities are aligned by CLIP, and each modality's unique part is kept
    orthogonal to its shared part over the batch:

        L = mean_{m < m'} CLIP(S_m, S_m') + w * sum_m || S_m^T U_m / n ||_F^2

    with ``S_m``, ``U_m`` the ``(n, d)`` matrices of unit rows. The generic form of the
    orthogonal constraints of "Refining Contrastive Learning and Homography Relations for
    Multi-Modal Recommendation" (modal-shared features filtered, modal-unique ones kept).

    Example:
        >>> loss = orthogonal_shared_unique([s_img, s_txt], [u_img, u_txt])
    """
    _same_shape(shared, "shared", 2)
    _same_shape(unique, "unique", 2)
    if len(unique) != len(shared) or unique[0].shape[0] != shared[0].shape[0]:
        raise ValueError("give one unique part per modality, over the same samples")
    n = shared[0].shape[0]
    clip = pairwise_clip(shared, temperature=temperature)
    orthogonality = sum(
        ((unit_rows(s.to(compute_dtype(s.dtype))).T @ unit_rows(u.to(compute_dtype(u.dtype)))) / n)
        .square()
        .sum()
        for s, u in zip(shared, unique, strict=True)
    )
    loss = clip + orthogonality_weight * orthogonality
    if return_terms:
        return loss, {"clip": clip.detach(), "orthogonality": orthogonality.detach()}
    return loss
