"""LightGCN for user-item graphs, with the noise-perturbed propagation of SimGCL/XSimGCL and
the low-rank (SVD) propagation of LightGCL as contrastive views."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def normalized_adjacency(users: int, items: int, edges: Tensor) -> Tensor:
    """Sparse ``D^-1/2 A D^-1/2`` of the bipartite graph on ``users + items`` nodes."""
    u, i = edges[:, 0], edges[:, 1] + users
    rows, cols = torch.cat([u, i]), torch.cat([i, u])
    n = users + items
    degree = torch.bincount(rows, minlength=n).double().clamp_min(1)
    values = (degree[rows] * degree[cols]).rsqrt().float()
    indices = torch.stack([rows, cols])
    return torch.sparse_coo_tensor(indices, values, (n, n), check_invariants=True).coalesce()


def low_rank_factors(users: int, adjacency: Tensor, rank: int) -> tuple[Tensor, Tensor]:
    """``(U S, V)`` of a rank-``rank`` SVD of the user-item block of the normalised adjacency
    (LightGCL's global view); the block is ``(U S) V^T``."""
    dense = adjacency.to_dense()[:users, users:]
    u, s, v = torch.svd_lowrank(dense, q=rank, niter=4)
    return u * s, v


def perturb(e: Tensor, eps: float, generator: torch.Generator | None) -> Tensor:
    """SimGCL's view: ``e + eps * sign(e) * normalize(U(0, 1))`` per row."""
    noise = torch.rand(e.shape, generator=generator, dtype=e.dtype)
    return e + eps * torch.sign(e) * F.normalize(noise, dim=1)


class LightGCN(nn.Module):
    """One embedding per user and item, propagated ``layers`` times over the normalised
    graph; the output is the mean of the layers, with the input layer (``include_input``,
    LightGCN) or without it (SimGCL and XSimGCL, perturbed or not). He et al., "LightGCN:
    Simplifying and Powering Graph Convolution Network for Recommendation", SIGIR 2020."""

    def __init__(
        self, users: int, items: int, dim: int = 64, layers: int = 2, include_input: bool = True
    ) -> None:
        super().__init__()
        self.users, self.items, self.layers = users, items, layers
        self.include_input = include_input
        self.embedding = nn.Embedding(users + items, dim)
        nn.init.xavier_uniform_(self.embedding.weight)

    def forward(
        self, adjacency: Tensor, eps: float = 0.0, generator: torch.Generator | None = None
    ) -> tuple[Tensor, list[Tensor]]:
        """``(final, per-layer outputs)``; with ``eps > 0`` every layer is perturbed."""
        e = self.embedding.weight
        outputs = []
        for _ in range(self.layers):
            e = torch.sparse.mm(adjacency, e)
            if eps > 0:
                e = perturb(e, eps, generator)
            outputs.append(e)
        stack = [self.embedding.weight, *outputs] if self.include_input else outputs
        return torch.stack(stack).mean(0), outputs

    def low_rank_view(self, factors: tuple[Tensor, Tensor], layers: list[Tensor]) -> Tensor:
        """LightGCL's global view: layer ``l`` propagates the main view's layer ``l - 1``
        over the rank-q graph ``(U S) V^T``; the view is the mean of the input embedding and
        those ``layers`` propagations (``layers``: the main view's per-layer outputs)."""
        us, v = factors
        inputs = [self.embedding.weight, *layers[:-1]]
        views = [self.embedding.weight]
        for e in inputs:
            user, item = e[: self.users], e[self.users :]
            views.append(torch.cat([us @ (v.T @ item), v @ (us.T @ user)]))
        return torch.stack(views).mean(0)
