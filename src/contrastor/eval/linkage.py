"""Record linkage with contrastive embeddings: pooled multimodal embeddings and clusters of
records linked above a similarity threshold."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from contrastor._validation import check_embeddings


def pool_modalities(embeddings: Sequence[Tensor]) -> Tensor:
    """One unit vector per record from its modalities' embeddings (e.g. an image and its
    OCR text): the mean of the unit embeddings, renormalised. Train it with SupCon on
    record ids (records of one entity as positives); Arora et al., "Linking
    Representations with Multimodal Contrastive Learning" (CLIPPINGS), 2023."""
    if not embeddings:
        raise ValueError("give at least one modality")
    for k, x in enumerate(embeddings):
        check_embeddings(x, f"embeddings[{k}]")
    if len({tuple(x.shape) for x in embeddings}) != 1:
        raise ValueError("the modalities' embeddings must share one shape")
    return F.normalize(torch.stack([F.normalize(x, dim=1) for x in embeddings]).mean(0), dim=1)


@torch.no_grad()
def link_records(embeddings: Tensor, threshold: float) -> Tensor:
    """Entity ids: records whose cosine reaches ``threshold`` are linked, and the connected
    components of those links are the entities (single-linkage agglomerative clustering cut
    at ``1 - threshold``). Returns ``(n,)`` ids numbered from 0 in order of first record."""
    check_embeddings(embeddings, "embeddings")
    if not -1.0 <= threshold <= 1.0:
        raise ValueError(f"threshold must be a cosine in [-1, 1], got {threshold}")
    z = F.normalize(embeddings.detach().double(), dim=1)
    linked = (z @ z.T) >= threshold
    n = z.shape[0]
    ids = torch.arange(n)
    while True:  # label propagation: each record takes the smallest id among its links
        smallest = torch.where(linked, ids[None, :], n).min(1).values.minimum(ids)
        if torch.equal(smallest, ids):
            break
        ids = smallest
    _, dense = torch.unique(ids, return_inverse=True)
    first = torch.full((int(dense.max()) + 1,), n, dtype=torch.long).scatter_reduce(
        0, dense, torch.arange(n), "amin"
    )
    return torch.argsort(torch.argsort(first))[dense]
