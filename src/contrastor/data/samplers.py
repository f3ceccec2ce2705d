"""Batch plans that are exact under DDP: no duplicate keys in a batch, M samples per class, one
source per batch.

A plan is called once per epoch, ``plan(epoch, generator)``, and returns the epoch's *global*
batches as index tensors; ``len(plan)`` is the number of batches, known before any is drawn
(a data-parallel run whose ranks disagree on it hangs). Each rank trains its contiguous
share of every global batch (:func:`contrastor.scale.distributed.shard`), so a constraint
that holds for the global batch — no two samples with the same key, M per class — holds for
the batch the loss gathers across ranks, and every sample drawn in an epoch is used exactly
once across ranks.
The plans are the ``batches`` of :func:`contrastor.recipes.loop.fit`; :class:`RankBatches`
turns one into a ``batch_sampler`` for a ``torch.utils.data.DataLoader``.

Samples a plan cannot place in an epoch (fewer than a batch left over; a key or class with
more samples than there are batches) are drawn afresh every epoch; :meth:`left_out` says how
many, so nothing is dropped silently.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterator, Sequence
from typing import Protocol

import torch
from torch import Tensor

from contrastor.scale.distributed import shard


class Plan(Protocol):
    """What the samplers here are: ``len`` batches per epoch, drawn by ``plan(epoch, g)``."""

    def __len__(self) -> int: ...

    def __call__(self, epoch: int, g: torch.Generator) -> list[Tensor]: ...


class _Counted:
    """``batches`` batches of ``batch_size`` per epoch out of ``size`` samples."""

    batches: int
    batch_size: int
    size: int

    def __len__(self) -> int:
        return self.batches

    def left_out(self) -> int:
        """Samples not drawn in an epoch."""
        return self.size - self.batches * self.batch_size


def key_labels(keys: Sequence[Hashable]) -> Tensor:
    """One integer label per sample, equal for equal keys: duplicates become shared positives
    (pass as ``labels``/``reference_labels`` to a loss) instead of false negatives."""
    ids: dict[Hashable, int] = {}
    return torch.tensor([ids.setdefault(k, len(ids)) for k in keys], dtype=torch.long)


def _groups(labels: Tensor) -> list[Tensor]:
    """Indices of each label value, in label order."""
    order = torch.argsort(labels, stable=True)
    counts = torch.bincount(labels)
    return [g for g in order.split(counts.tolist()) if len(g)]


def _stripe(groups: list[Tensor], batches: int, size: int, g: torch.Generator) -> list[Tensor]:
    """``batches`` batches of ``size`` from ``groups`` (each at most ``batches`` long, in all
    at least ``batches * size``) with no two members of a group in one batch: the groups, in
    a random order, are laid end to end and position ``p`` goes to batch ``p mod batches``;
    a group's consecutive positions fall in distinct batches. The surplus left over is drawn
    at random beforehand."""
    groups = [groups[i] for i in torch.randperm(len(groups), generator=g).tolist()]
    members = torch.cat([grp[torch.randperm(len(grp), generator=g)] for grp in groups])
    keep = torch.randperm(len(members), generator=g)[: batches * size].sort().values
    members = members[keep]  # still one run per group, each at most `batches` long
    slots = torch.arange(len(members)) % batches
    out = [members[slots == b] for b in range(batches)]
    order = torch.randperm(batches, generator=g).tolist()
    return [out[b][torch.randperm(size, generator=g)] for b in order]


class NoDuplicates(_Counted):
    """Batches of ``batch_size`` in which no two samples share a key (a text's hash, a pair
    id, a user id): duplicates would otherwise be each other's false negatives.

    Every epoch uses ``len(self) * batch_size`` samples: all but fewer than a batch, unless a
    key has more samples than there are batches — then that key's extra samples wait for a
    later epoch (:meth:`left_out`). To keep every sample instead, train with
    ``labels=key_labels(keys)`` and plain shuffled batches."""

    def __init__(self, keys: Sequence[Hashable], batch_size: int) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.labels = key_labels(keys)
        self.batch_size = batch_size
        self.counts = torch.bincount(self.labels) if len(self.labels) else torch.zeros(0)
        self.batches, self.size = _capped_batches(self.counts, batch_size), len(self.labels)
        if self.batches == 0:
            raise ValueError(
                f"{len(self.labels)} samples with {len(self.counts)} distinct keys make no batch "
                f"of {batch_size} without a duplicate key"
            )

    def __call__(self, epoch: int, g: torch.Generator) -> list[Tensor]:
        capped = [
            grp[torch.randperm(len(grp), generator=g)][: self.batches]
            for grp in _groups(self.labels)
        ]
        return _stripe(capped, self.batches, self.batch_size, g)


def _capped_batches(counts: Tensor, per_batch: int) -> int:
    """The most batches ``K`` of ``per_batch`` members such that, with at most ``K`` members
    of a group (one per batch), the groups fill them: ``sum min(count, K) >= K * per_batch``."""
    batches = int(counts.sum()) // per_batch
    while batches > 0 and int(counts.clamp(max=batches).sum()) < batches * per_batch:
        batches -= 1
    return batches


class MPerClass(_Counted):
    """Batches of ``batch_size`` made of ``batch_size / m`` classes with ``m`` samples each
    (supervised contrastive and metric losses need positives in every batch).

    Each epoch cuts every class's shuffled samples into chunks of ``m``; no class gives two
    chunks to one batch. Classes with fewer than ``m`` samples never form a chunk; their
    samples, the remainders of the cuts, and the chunks of a class with more chunks than
    there are batches are counted by :meth:`left_out`."""

    def __init__(self, labels: Tensor, m: int, batch_size: int) -> None:
        if m < 1 or batch_size % m:
            raise ValueError(f"batch_size {batch_size} must be a positive multiple of m = {m}")
        labels = torch.as_tensor(labels, dtype=torch.long)
        if labels.ndim != 1 or (len(labels) and int(labels.min()) < 0):
            raise ValueError("labels must be a 1-D tensor of class ids >= 0")
        self.labels, self.m, self.batch_size = labels, m, batch_size
        self.chunks = (
            torch.bincount(labels) // m if len(labels) else torch.zeros(0, dtype=torch.long)
        )
        self.batches, self.size = _capped_batches(self.chunks, batch_size // m), len(labels)
        if self.batches == 0:
            raise ValueError(
                f"no batch of {batch_size // m} classes x {m} samples: "
                f"{int((self.chunks > 0).sum())} classes have at least {m} samples"
            )

    def __call__(self, epoch: int, g: torch.Generator) -> list[Tensor]:
        m, chunks = self.m, []
        for grp in _groups(self.labels):
            grp = grp[torch.randperm(len(grp), generator=g)]
            usable = min(len(grp) // m, self.batches) * m
            if usable:
                chunks.append(grp[:usable].reshape(-1, m))
        ids = torch.cat(chunks)  # (chunks, m), a class's chunks consecutive
        owners = list(torch.arange(len(ids)).split([len(c) for c in chunks]))
        picked = _stripe(owners, self.batches, self.batch_size // m, g)
        return [ids[b].reshape(-1) for b in picked]


class PerSource(_Counted):
    """One source per batch, over several datasets laid end to end (``sizes[i]`` samples of
    source ``i``, indices offset by the sizes before it): in-batch negatives then come from
    the same source, as multi-dataset text training wants.

    Each source's shuffled samples are cut into full batches (its remainder, fewer than a
    batch, is left out of the epoch); ``order="round_robin"`` takes one batch of each source
    in turn while it has any, ``"shuffled"`` mixes all batches at random (sources in
    proportion to their size)."""

    ORDERS = ("round_robin", "shuffled")

    def __init__(self, sizes: Sequence[int], batch_size: int, order: str = "round_robin") -> None:
        if order not in self.ORDERS:
            raise ValueError(f"order must be one of {self.ORDERS}, got {order!r}")
        if batch_size < 1 or not sizes or min(sizes) < 0:
            raise ValueError("sizes must be counts >= 0 and batch_size >= 1")
        self.sizes, self.batch_size, self.order = list(sizes), batch_size, order
        self.per_source = [n // batch_size for n in self.sizes]
        self.batches, self.size = sum(self.per_source), sum(self.sizes)
        if self.batches == 0:
            raise ValueError(f"no source has a full batch of {batch_size}")

    def __call__(self, epoch: int, g: torch.Generator) -> list[Tensor]:
        size, offset, lists = self.batch_size, 0, []
        for n, count in zip(self.sizes, self.per_source, strict=True):
            order = torch.randperm(n, generator=g)[: count * size] + offset
            lists.append(list(order.split(size)) if count else [])
            offset += n
        if self.order == "shuffled":
            flat = [b for batches in lists for b in batches]
            return [flat[i] for i in torch.randperm(len(flat), generator=g).tolist()]
        rounds = max(len(batches) for batches in lists)
        return [batches[r] for r in range(rounds) for batches in lists if r < len(batches)]


class RankBatches(torch.utils.data.Sampler):
    """A plan as a ``batch_sampler`` for a ``DataLoader``: this rank's share of every global
    batch, the epoch's plan drawn from ``(seed, epoch)`` so that every rank draws the same;
    call :meth:`set_epoch` at each epoch, as with ``DistributedSampler``. ``rank`` and
    ``world`` default to the running process group's."""

    def __init__(
        self, plan: Plan, seed: int = 0, rank: int | None = None, world: int | None = None
    ) -> None:
        import torch.distributed as dist

        running = dist.is_available() and dist.is_initialized()
        self.rank = rank if rank is not None else (dist.get_rank() if running else 0)
        self.world = world if world is not None else (dist.get_world_size() if running else 1)
        if not 0 <= self.rank < self.world:
            raise ValueError(f"rank {self.rank} is outside a world of {self.world}")
        self.plan, self.seed, self.epoch = plan, seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.plan)

    def __iter__(self) -> Iterator[list[int]]:
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
        for batch in self.plan(self.epoch, g):
            if len(batch) < self.world:
                raise ValueError(f"a batch of {len(batch)} cannot be shared by {self.world} ranks")
            yield batch[shard(len(batch), self.rank, self.world)].tolist()
