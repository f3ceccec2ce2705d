"""Per-sample state indexed by dataset index (moving averages, per-sample temperatures, clean
probabilities), kept identical on every rank."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from contrastor._validation import when_valid
from contrastor.scale.distributed import LOCAL, Exchange


class PerSampleState(nn.Module):
    """Named ``(size, *shape)`` buffers, one row per dataset sample.

    :meth:`write` takes the rows of this rank's samples; under DDP (``exchange``) the indices
    and values of all ranks are gathered and written on every rank, so each rank holds the
    whole, identical state and a checkpoint saved by rank 0 is complete. Buffers land in
    ``state_dict`` under their names.

    Example:
        >>> state = PerSampleState(50_000, u=(), tau=())
        >>> state.fill("tau", 0.1)
        >>> tau = state.read("tau", index)
        >>> state.write("u", index, new_u)
    """

    def __init__(
        self, size: int, dtype: torch.dtype = torch.float32, **shapes: tuple[int, ...]
    ) -> None:
        super().__init__()
        if size < 1:
            raise ValueError(f"per-sample state needs a positive dataset size, got {size}")
        if not shapes:
            raise ValueError("give at least one named buffer, e.g. u=()")
        self.size = size
        self.names = tuple(shapes)
        for name, shape in shapes.items():
            self.register_buffer(name, torch.zeros(size, *shape, dtype=dtype))
        self.register_buffer("seen", torch.zeros(size, dtype=torch.bool))

    def _check_index(self, index: Tensor) -> Tensor:
        if index.ndim != 1 or index.is_floating_point():
            raise ValueError("index must be a 1-D integer tensor of dataset indices")
        if index.numel() and bool((index < 0).any() | (index >= self.size).any()):
            raise ValueError(f"dataset index out of range [0, {self.size})")
        return index.to(self.seen.device)

    def fill(self, name: str, value: float) -> None:
        """Set every row of ``name`` to ``value``."""
        getattr(self, name).fill_(value)

    def read(self, name: str, index: Tensor) -> Tensor:
        """Rows ``index`` of buffer ``name`` (a copy, no gradient)."""
        return getattr(self, name)[self._check_index(index)].clone()

    def was_seen(self, index: Tensor) -> Tensor:
        """Whether each sample has been written before."""
        return self.seen[self._check_index(index)].clone()

    @torch.no_grad()
    def write(
        self, name: str, index: Tensor, values: Tensor, exchange: Exchange | None = None
    ) -> None:
        """Write ``values`` into rows ``index`` of ``name`` on every rank, once the loss call's
        checks pass (:func:`~contrastor._validation.when_valid`)."""
        index = self._check_index(index)
        buffer = getattr(self, name)
        if values.shape != (index.shape[0], *buffer.shape[1:]):
            raise ValueError(
                f"values for {name!r} must have shape {(index.shape[0], *buffer.shape[1:])}, "
                f"got {tuple(values.shape)}"
            )
        when_valid(lambda: self._store(buffer, index, values.detach(), exchange or LOCAL))

    @torch.no_grad()
    def _store(self, buffer: Tensor, index: Tensor, values: Tensor, ex: Exchange) -> None:
        index = ex.gather(index)
        values = ex.gather(values.to(buffer.dtype))
        buffer[index.to(buffer.device)] = values.to(buffer.device)
        self.seen[index.to(self.seen.device)] = True

    def extra_repr(self) -> str:
        return f"size={self.size}, buffers={self.names}"
