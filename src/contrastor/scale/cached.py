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

Notes: the encoder's parameters receive their gradients inside ``loss.backward()``
(``torch.autograd.grad`` on the loss does not reach them). BatchNorm sees per-chunk
statistics, as with any micro-batching, and its running statistics are updated in the first
pass only.
"""

from __future__ import annotations

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
        ctx: Any, module: CachedEncoder, batch: Batch, device: torch.device, _anchor: Tensor
    ) -> Tensor:
        """``device``: the encoder's (its RNG and autocast state are captured and replayed)."""
        n, c = _size(batch), module.chunk_size
        states, outputs = [], []
        with torch.no_grad():
            for start in range(0, n, c):
                states.append(_RandomState(device))
                outputs.append(_call(module.encoder, _slice(batch, slice(start, start + c))))
        ctx.module, ctx.batch, ctx.states, ctx.device = module, batch, states, device
        kind = device.type
        ctx.autocast = (torch.is_autocast_enabled(kind), torch.get_autocast_dtype(kind))
        return torch.cat(outputs)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[None, None, None, None]:
        module, batch, c = ctx.module, ctx.batch, ctx.module.chunk_size
        devices = [ctx.device] if ctx.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):
            for k, start in enumerate(range(0, _size(batch), c)):
                ctx.states[k].restore()
                enabled, dtype = ctx.autocast
                with torch.enable_grad(), torch.autocast(ctx.device.type, dtype, enabled=enabled):
                    out = _call(module.encoder, _slice(batch, slice(start, start + c)))
                torch.autograd.backward(out, grad[start : start + out.shape[0]])
        return None, None, None, None


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
        return _CachedEmbed.apply(self, batch, device, anchor)


def encoder_device(encoder: nn.Module, fallback: torch.device) -> torch.device:
    """Where ``encoder`` computes: the device of its first parameter or buffer (a batch may
    arrive on the CPU for a GPU encoder), else ``fallback``. Its random state and autocast
    state are the ones the replay must restore."""
    for tensor in (*encoder.parameters(), *encoder.buffers()):
        return tensor.device
    return fallback
