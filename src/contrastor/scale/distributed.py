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


def _all_gather(out: Tensor, x: Tensor, group: Any) -> None:
    """``out`` (world * rows) = every rank's ``x`` in rank order, one collective."""
    fn = getattr(dist, "all_gather_single", None) or dist.all_gather_into_tensor
    fn(out, x, group=group)


def _reduce_scatter(out: Tensor, x: Tensor, group: Any) -> None:
    """``out`` = this rank's chunk of the sum of every rank's ``x`` (world equal chunks)."""
    fn = getattr(dist, "reduce_scatter_single", None) or dist.reduce_scatter_tensor
    fn(out, x, group=group)


def pad_rows(x: Tensor, width: int) -> Tensor:
    """``x`` with zero rows appended up to ``width`` rows (itself when it has them)."""
    if x.shape[0] == width:
        return x.contiguous()
    padded = x.new_zeros((width, *x.shape[1:]))
    padded[: x.shape[0]] = x
    return padded


def unpad_rows(stacked: Tensor, sizes: list[int]) -> Tensor:
    """Rows of ``world`` equal chunks of ``max(sizes)`` rows, each cut to its rank's size."""
    width = max(sizes)
    if all(s == width for s in sizes):
        return stacked
    return torch.cat([stacked[r * width : r * width + s] for r, s in enumerate(sizes)])


def pad_chunks(grad: Tensor, sizes: list[int]) -> Tensor:
    """The gathered layout (ranks' rows back to back) spread into equal chunks of
    ``max(sizes)`` rows, the reverse of :func:`unpad_rows`."""
    width = max(sizes)
    if all(s == width for s in sizes):
        return grad.contiguous()
    out = grad.new_zeros((width * len(sizes), *grad.shape[1:]))
    start = 0
    for r, s in enumerate(sizes):
        out[r * width : r * width + s] = grad[start : start + s]
        start += s
    return out


class _Gather(torch.autograd.Function):
    """All ranks' rows concatenated; backward: every rank's gradient of the gathered tensor
    summed and scattered back to the rank that produced each row (one reduce-scatter)."""

    @staticmethod
    def forward(ctx: Any, x: Tensor, sizes: list[int], group: Any) -> Tensor:
        width = max(sizes)
        out = x.new_empty((width * len(sizes), *x.shape[1:]))
        _all_gather(out, pad_rows(x, width), group)
        ctx.sizes, ctx.group, ctx.n = sizes, group, x.shape[0]
        return unpad_rows(out, sizes)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, None, None]:
        width = max(ctx.sizes)
        out = grad.new_empty((width, *grad.shape[1:]))
        _reduce_scatter(out, pad_chunks(grad, ctx.sizes), ctx.group)
        return out[: ctx.n], None, None


class DistributedExchange(Exchange):
    """Gathers across the ranks of ``group`` (default: the whole world). Batch sizes are
    exchanged once per distinct local size and remembered for the exchange's lifetime (one
    loss call), so a call costs one small all-gather per size; tensors travel in their own
    dtype (gather bf16 embeddings before promoting them)."""

    def __init__(self, group: Any = None) -> None:
        self.group = group
        self.world_size = dist.get_world_size(group)
        self.rank = dist.get_rank(group)
        self._sizes: dict[int, list[int]] = {}

    def sizes(self, n: int) -> list[int]:
        if n not in self._sizes:
            local = torch.tensor([n], device=_device_for(self.group))
            every = local.new_empty(self.world_size)
            _all_gather(every, local, self.group)
            self._sizes[n] = every.tolist()
        return self._sizes[n]

    def offset(self, n: int) -> int:
        return sum(self.sizes(n)[: self.rank])

    def gather(self, x: Tensor) -> Tensor:
        sizes = self.sizes(x.shape[0])
        if not x.requires_grad:
            with torch.no_grad():
                return _Gather.apply(x, sizes, self.group)
        return _Gather.apply(x, sizes, self.group)

    def total(self, x: Tensor) -> Tensor:
        out = x.detach().clone()
        dist.all_reduce(out, group=self.group)
        return out


def _device_for(group: Any) -> torch.device:
    """Where the backend's small tensors live: this process's current CUDA device for NCCL
    (set from ``LOCAL_RANK`` by :func:`contrastor.scale.launch.init_distributed`)."""
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


def shard(n: int, rank: int, world: int) -> slice:
    """This rank's contiguous part of a batch of ``n`` (sizes differ by at most one)."""
    sizes = [n // world + (1 if r < n % world else 0) for r in range(world)]
    start = sum(sizes[:rank])
    return slice(start, start + sizes[rank])


def average_gradients(module: nn.Module, group: Any = None, bucket_mib: float = 25.0) -> None:
    """Average the parameter gradients of ``module`` over ranks: what DDP does, for modules
    trained outside it (e.g. under :class:`~contrastor.scale.CachedEncoder`, whose re-run
    chunks DDP's hooks would count several times). Gradients travel in flat buckets of about
    ``bucket_mib`` MiB per dtype and device, one all-reduce each, as DDP's buckets do."""
    if not (dist.is_available() and dist.is_initialized()):
        return
    world = dist.get_world_size(group)
    for bucket in gradient_buckets(module, int(bucket_mib * 2**20)):
        flat = torch.cat([g.reshape(-1) for g in bucket])
        dist.all_reduce(flat, group=group)
        flat /= world
        start = 0
        for g in bucket:
            g.copy_(flat[start : start + g.numel()].view_as(g))
            start += g.numel()


def gradient_buckets(module: nn.Module, limit_bytes: int) -> list[list[Tensor]]:
    """The parameters' gradients grouped by dtype and device into runs of at most
    ``limit_bytes`` (a larger single gradient is a bucket of its own), in parameter order."""
    buckets: list[list[Tensor]] = []
    open_: dict[tuple, tuple[list[Tensor], int]] = {}
    for p in module.parameters():
        g = p.grad
        if g is None:
            continue
        key = (g.dtype, g.device)
        bucket, size = open_.get(key, ([], 0))
        nbytes = g.numel() * g.element_size()
        if bucket and size + nbytes > limit_bytes:
            buckets.append(bucket)
            bucket, size = [], 0
        bucket.append(g)
        open_[key] = (bucket, size + nbytes)
    buckets.extend(bucket for bucket, _ in open_.values() if bucket)
    return buckets
