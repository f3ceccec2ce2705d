"""Similarity functions: how a (query, reference) pair is scored before the temperature.

``cosine``: s(q, r) = q . r / (|q| |r|);  ``dot``: s(q, r) = q . r.
Both are computed as one matrix product after :func:`prepare`, so every objective (dense or
tiled) only ever multiplies prepared matrices. ``prepare`` runs in full precision (see
:mod:`contrastor.engine.precision`).
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from contrastor.engine.precision import compute_dtype

SIMILARITIES = ("cosine", "dot")


def check_similarity(similarity: str) -> str:
    if similarity not in SIMILARITIES:
        raise ValueError(f"similarity must be one of {SIMILARITIES}, got {similarity!r}")
    return similarity


def prepare(x: Tensor, similarity: str) -> Tensor:
    """Cast ``x`` to the compute precision and, for cosine similarity, L2-normalise its rows."""
    dtype = compute_dtype(x.dtype)
    if x.dtype != dtype:
        x = x.to(dtype)
    if check_similarity(similarity) == "cosine":
        x = F.normalize(x, dim=-1, eps=1e-12)
    return x


def similarity_matrix(query: Tensor, reference: Tensor, similarity: str = "cosine") -> Tensor:
    """Dense ``(n, m)`` similarity matrix between prepared queries and references."""
    return prepare(query, similarity) @ prepare(reference, similarity).T
