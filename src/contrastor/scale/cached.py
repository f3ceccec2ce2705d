"""Cached encoder backward: train with a batch of N built from chunks of c.

The idea of Gao et al., "Scaling Deep Metric Learning Beyond the GPU Memory Limit"
(GradCache), 2021, as a drop-in module:

1. forward: the encoder embeds the batch chunk by chunk with autograd off, so no activation
   is kept (memory follows c, not N);
2. the loss is computed on all N embeddings (tiled if large) and ``loss.backward()`` gives
   the gradient of the loss with respect to each embedding;
3. backward: each chunk is embedded again, with autograd on and the random state of its first
   pass replayed (same dropout masks), and its embedding gradient is pushed through it into
   the encoder's parameters.

The parameter gradients equal those of running the same chunks with autograd on throughout.
Works with every loss (labels, learnable temperatures, several encoders) and plain loops:

    >>> cached = CachedEncoder(encoder, chunk_size=64)
    >>> loss = loss_fn(cached(images_a), cached(images_b))
    >>> loss.backward(); optimizer.step()

The replays' parameter gradients are summed and handed back to autograd as the gradient of
the embedding's inputs, so each parameter's gradient is accumulated once per backward, with
all the chunks (and all the calls of one step) in it: ``DistributedDataParallel`` around a
model that holds this module reduces once, as for any module. When DDP wraps the encoder
itself, the chunks before the last run under ``no_sync`` and add to ``.grad``, and the last
chunk's backward makes the reduction.

Note: BatchNorm sees per-chunk statistics, as with any micro-batching, and its running
statistics are updated in the first pass only.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn

Batch = Tensor | dict[str, Tensor] | list[Tensor] | tuple[Tensor, ...]


def _size(batch: Batch) -> int:
    if isinstance(batch, Tensor):
        return batch.shape[0]
    values = list(batch.values()) if isinstance(batch, dict) else list(batch)
    if not values:
        raise ValueError("the batch is empty")
    return values[0].shape[0]


def _slice(batch: Batch, rows: slice) -> Batch:
    if isinstance(batch, Tensor):
        return batch[rows]
    if isinstance(batch, dict):
        return {k: v[rows] for k, v in batch.items()}
    return type(batch)(v[rows] for v in batch)


def _call(encoder: Callable[..., Tensor], chunk: Batch) -> Tensor:
    if isinstance(chunk, dict):
        return encoder(**chunk)
    if isinstance(chunk, (list, tuple)):
        return encoder(*chunk)
    return encoder(chunk)


class _RandomState:
    """CPU and accelerator random states, captured before a chunk's first pass."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.cpu = torch.get_rng_state()
        self.cuda = torch.cuda.get_rng_state(device) if device.type == "cuda" else None

    def restore(self) -> None:
        torch.set_rng_state(self.cpu)
        if self.cuda is not None:
            torch.cuda.set_rng_state(self.cuda, self.device)


class _CachedEmbed(torch.autograd.Function):
    @staticmethod
    def forward(
        ctx: Any,
        module: CachedEncoder,
        batch: Batch,
        device: torch.device,
        _anchor: Tensor,
        *params: Tensor,
    ) -> Tensor:
        """``device``: the encoder's (its RNG and autocast state are captured and replayed);
        ``params``: the encoder's trainable parameters, whose gradients the backward returns
        (none for a DDP-wrapped encoder, which reduces its own)."""
        n, c = _size(batch), module.chunk_size
        states, outputs = [], []
        with torch.no_grad():
            for start in range(0, n, c):
                states.append(_RandomState(device))
                outputs.append(_call(module.encoder, _slice(batch, slice(start, start + c))))
        ctx.module, ctx.batch, ctx.states, ctx.device = module, batch, states, device
        ctx.params = params
        kind = device.type
        ctx.autocast = (torch.is_autocast_enabled(kind), torch.get_autocast_dtype(kind))
        return torch.cat(outputs)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, ...]:
        module, batch, c = ctx.module, ctx.batch, ctx.module.chunk_size
        encoder = module.encoder
        wrapped = _is_ddp(encoder)
        params = list(ctx.params) or module.trainable()
        totals: list[Tensor | None] = [None] * len(params)
        devices = [ctx.device] if ctx.device.type == "cuda" else []
        starts = list(range(0, _size(batch), c))
        with torch.random.fork_rng(devices=devices):
            for k, start in enumerate(starts):
                ctx.states[k].restore()
                chunk = _slice(batch, slice(start, start + c))
                last = k == len(starts) - 1
                with _replay(encoder, ctx, sync=last):
                    out = _call(encoder, chunk)
                part = grad[start : start + out.shape[0]]
                if wrapped and last:  # DDP reduces the sum of every chunk's .grad, once
                    torch.autograd.backward(out, part)
                    continue
                for i, g in enumerate(_chunk_grads(out, part, params, chunk)):
                    if g is None:
                        continue
                    if wrapped:  # into .grad before the last chunk's reduction
                        p = params[i]
                        p.grad = g if p.grad is None else p.grad.add_(g)
                    else:
                        totals[i] = g if totals[i] is None else totals[i] + g
        return None, None, None, None, *([] if wrapped else totals)


def _is_ddp(encoder: nn.Module) -> bool:
    return isinstance(encoder, nn.parallel.DistributedDataParallel)


def _replay(encoder: nn.Module, ctx: Any, sync: bool) -> contextlib.ExitStack:
    """Grad and autocast on as in the first pass; a DDP-wrapped encoder skips its gradient
    reduction except on the last chunk (``no_sync``)."""
    stack = contextlib.ExitStack()
    enabled, dtype = ctx.autocast
    stack.enter_context(torch.enable_grad())
    stack.enter_context(torch.autocast(ctx.device.type, dtype, enabled=enabled))
    if not sync and _is_ddp(encoder):
        stack.enter_context(encoder.no_sync())
    return stack


def _chunk_grads(
    out: Tensor, grad: Tensor, params: list[Tensor], chunk: Batch
) -> tuple[Tensor | None, ...]:
    """One chunk's parameter gradients, computed without accumulating them (no hook fires);
    inputs of the chunk that need gradients get theirs sent upstream."""
    values = (
        [chunk]
        if isinstance(chunk, Tensor)
        else list(chunk.values() if isinstance(chunk, dict) else chunk)
    )
    inputs = [v for v in values if isinstance(v, Tensor) and v.requires_grad]
    grads = torch.autograd.grad(out, params + inputs, grad, allow_unused=True)
    upstream = [(x, g) for x, g in zip(inputs, grads[len(params) :], strict=True) if g is not None]
    if upstream:
        torch.autograd.backward([x for x, _ in upstream], [g for _, g in upstream])
    return grads[: len(params)]


class CachedEncoder(nn.Module):
    """Wraps ``encoder`` so that a large batch is embedded in chunks of ``chunk_size`` without
    keeping activations; ``loss.backward()`` re-runs each chunk (module docstring).

    Args:
        encoder: any module; it receives a tensor, the ``**dict`` of a tokenized batch, or the
            ``*list`` of its inputs, chunked along the first dimension.
        chunk_size: samples embedded at once (activation memory follows it).
    """

    def __init__(self, encoder: nn.Module, chunk_size: int) -> None:
        super().__init__()
        if chunk_size < 1:
            raise ValueError(f"chunk_size must be positive, got {chunk_size}")
        self.encoder = encoder
        self.chunk_size = chunk_size

    def forward(self, batch: Batch) -> Tensor:
        if _size(batch) == 0:
            raise ValueError("the batch is empty")
        if not torch.is_grad_enabled():
            return torch.cat(
                [
                    _call(self.encoder, _slice(batch, slice(s, s + self.chunk_size)))
                    for s in range(0, _size(batch), self.chunk_size)
                ]
            )
        first = (
            batch
            if isinstance(batch, Tensor)
            else next(iter(batch.values() if isinstance(batch, dict) else batch))
        )
        device = encoder_device(self.encoder, first.device)
        # a leaf that requires grad puts the embedding on the autograd graph
        anchor = torch.zeros((), device=first.device, requires_grad=True)
        params = [] if _is_ddp(self.encoder) else self.trainable()
        return _CachedEmbed.apply(self, batch, device, anchor, *params)

    def trainable(self) -> list[Tensor]:
        return [p for p in self.encoder.parameters() if p.requires_grad]


def encoder_device(encoder: nn.Module, fallback: torch.device) -> torch.device:
    """Where ``encoder`` computes: the device of its first parameter or buffer (a batch may
    arrive on the CPU for a GPU encoder), else ``fallback``. Its random state and autocast
    state are the ones the replay must restore."""
    for tensor in (*encoder.parameters(), *encoder.buffers()):
        return tensor.device
    return fallback
