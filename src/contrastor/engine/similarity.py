"""Similarity functions: how a (query, reference) pair is scored before the temperature.

``cosine``: s(q, r) = q . r / (|q| |r|);  ``dot``: s(q, r) = q . r.
Both are computed as one matrix product after :func:`prepare`, so every objective (dense or
tiled) only ever multiplies prepared matrices. ``prepare`` runs in full precision (see
:mod:`contrastor.engine.precision`).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from contrastor.engine.precision import compute_dtype

SIMILARITIES = ("cosine", "dot")
#: as ``F.normalize``: a row shorter than this is divided by it
EPS = 1e-12


def check_similarity(similarity: str) -> str:
    if similarity not in SIMILARITIES:
        raise ValueError(f"similarity must be one of {SIMILARITIES}, got {similarity!r}")
    return similarity


def folded(similarity: str) -> tuple[bool, str]:
    """``(normalize, prepared_as)`` for a loss whose kernel folds cosine normalisation into
    its scales: whether the kernel normalises, and what :func:`prepare` still applies (the
    cast only, ``"dot"``, when it does)."""
    normalize = check_similarity(similarity) == "cosine"
    return normalize, "dot" if normalize else similarity


def row_norms(x: Tensor) -> Tensor:
    """``max(|x_i|, eps)`` over the last dimension."""
    return torch.linalg.vector_norm(x, dim=-1).clamp_min_(EPS)


def prepare(x: Tensor, similarity: str) -> Tensor:
    """Cast ``x`` to the compute precision and, for cosine similarity, L2-normalise its rows."""
    dtype = compute_dtype(x.dtype)
    if x.dtype != dtype:
        x = x.to(dtype)
    if check_similarity(similarity) == "cosine":
        x = unit_rows(x)
    return x


def unit_rows(x: Tensor) -> Tensor:
    """``x / max(|x|, eps)`` over the last dimension (``F.normalize``), with no gradient for
    rows shorter than ``eps`` (:class:`UnitRows`)."""
    return UnitRows.apply(x)


class UnitRows(torch.autograd.Function):
    """``y = x / max(|x|, eps)`` row-wise (``F.normalize``) as one autograd node, with the
    backward ``(g - y (g . y)) / |x|``. A row shorter than ``eps`` (a zero embedding) has no
    direction to move along: its gradient is zero, where ``F.normalize`` gives ``g / eps``,
    about 1e12 times the others."""

    @staticmethod
    def forward(ctx: Any, x: Tensor) -> Tensor:
        norm = row_norms(x).unsqueeze_(-1)
        y = x / norm
        ctx.save_for_backward(y, norm)
        return y

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> Tensor:
        y, norm = ctx.saved_tensors
        along = torch.linalg.vecdot(g, y).unsqueeze_(-1)
        return torch.addcmul(g, y, along, value=-1.0).div_(norm).masked_fill_(norm <= EPS, 0.0)


def similarity_matrix(query: Tensor, reference: Tensor, similarity: str = "cosine") -> Tensor:
    """Dense ``(n, m)`` similarity matrix between prepared queries and references."""
    return prepare(query, similarity) @ prepare(reference, similarity).T
