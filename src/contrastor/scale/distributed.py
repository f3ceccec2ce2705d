"""Distributed contrastive losses: local anchors against references gathered from all ranks.

Every rank embeds its own batch; a loss gathers the references of all ranks (gradients flow
back through the gather to the rank that produced them) and scores its local anchors against
them. The returned value is the rank's share of the global loss, scaled so that the gradient
averaging of ``DistributedDataParallel`` gives exactly the gradient of the loss of one process
on the concatenated batch (uneven batch sizes included):

    loss_rank = W / sum_all(w) * sum_{local anchors} w_i L_i

(``W`` ranks, ``w`` per-anchor weights); the mean of ``loss_rank`` over ranks is the global
mean loss. Launch with ``torchrun``; any ``torch.distributed`` backend works (gloo on CPU,
NCCL on GPUs).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor, nn


class Exchange:
    """How a loss sees the other ranks; this base class is one process (identity)."""

    world_size = 1
    rank = 0

    def sizes(self, n: int) -> list[int]:
        """Batch size of every rank."""
        return [n]

    def offset(self, n: int) -> int:
        """Index of this rank's first row in a gathered tensor."""
        return 0

    def gather(self, x: Tensor) -> Tensor:
        """All ranks' ``x`` concatenated in rank order (gradients flow back)."""
        return x

    def total(self, x: Tensor) -> Tensor:
        """Sum of ``x`` over ranks (no gradient)."""
        return x


LOCAL = Exchange()


class _Gather(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, x: Tensor, sizes: list[int], rank: int, group: Any) -> Tensor:
        width = max(sizes)
        padded = x.new_zeros((width, *x.shape[1:]))
        padded[: x.shape[0]] = x
        parts = [torch.empty_like(padded) for _ in sizes]
        dist.all_gather(parts, padded.contiguous(), group=group)
        ctx.offset, ctx.n, ctx.group = sum(sizes[:rank]), x.shape[0], group
        return torch.cat([p[:s] for p, s in zip(parts, sizes, strict=True)])

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, None, None, None]:
        total = grad.contiguous().clone()
        dist.all_reduce(total, group=ctx.group)
        return total[ctx.offset : ctx.offset + ctx.n], None, None, None


class DistributedExchange(Exchange):
    """Gathers across the ranks of ``group`` (default: the whole world)."""

    def __init__(self, group: Any = None) -> None:
        self.group = group
        self.world_size = dist.get_world_size(group)
        self.rank = dist.get_rank(group)

    def sizes(self, n: int) -> list[int]:
        device = _device_for(self.group)
        local = torch.tensor([n], device=device)
        parts = [torch.zeros_like(local) for _ in range(self.world_size)]
        dist.all_gather(parts, local, group=self.group)
        return [int(p) for p in parts]

    def offset(self, n: int) -> int:
        return sum(self.sizes(n)[: self.rank])

    def gather(self, x: Tensor) -> Tensor:
        sizes = self.sizes(x.shape[0])
        if not x.requires_grad:
            with torch.no_grad():
                return _Gather.apply(x, sizes, self.rank, self.group)
        return _Gather.apply(x, sizes, self.rank, self.group)

    def total(self, x: Tensor) -> Tensor:
        out = x.detach().clone()
        dist.all_reduce(out, group=self.group)
        return out


def _device_for(group: Any) -> torch.device:
    backend = dist.get_backend(group)
    if backend == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def exchange_for(gather_distributed: bool, group: Any = None) -> Exchange:
    """The exchange a loss uses: across ranks when asked and a process group of more than
    one rank is running, else :data:`LOCAL`."""
    if (
        gather_distributed
        and dist.is_available()
        and dist.is_initialized()
        and dist.get_world_size(group) > 1
    ):
        return DistributedExchange(group)
    return LOCAL


def average_gradients(module: nn.Module, group: Any = None) -> None:
    """Average the parameter gradients of ``module`` over ranks: what DDP does, for modules
    trained outside it (e.g. under :class:`~contrastor.scale.CachedEncoder`, whose re-run
    chunks DDP's hooks would count several times)."""
    if not (dist.is_available() and dist.is_initialized()):
        return
    world = dist.get_world_size(group)
    for p in module.parameters():
        if p.grad is not None:
            dist.all_reduce(p.grad, group=group)
            p.grad /= world
