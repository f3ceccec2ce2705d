"""A first-in first-out queue of past keys used as extra negatives (MoCo)."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from contrastor._validation import check_embeddings, when_valid
from contrastor.scale.distributed import LOCAL, Exchange


class FeatureQueue(nn.Module):
    """Ring buffer of the last ``size`` keys (and optionally their labels).

    Keys enter without gradient. Under DDP (``exchange``) every rank enqueues the keys of all
    ranks, so the queues of all ranks stay identical. Buffers: ``features`` ``(size, dim)``,
    ``labels`` ``(size,)``, ``pointer`` and ``filled`` (saved in ``state_dict``).

    He et al., "Momentum Contrast for Unsupervised Visual Representation Learning", CVPR 2020.

    Example:
        >>> queue = FeatureQueue(4096, 128)
        >>> loss = info_nce(q, torch.cat([k, queue.features_in_use()]))
        >>> queue.enqueue(k)
    """

    def __init__(self, size: int, dim: int) -> None:
        super().__init__()
        if size < 1 or dim < 1:
            raise ValueError(f"queue size and dim must be positive, got {size} and {dim}")
        self.size, self.dim = size, dim
        self.register_buffer("features", torch.zeros(size, dim))
        self.register_buffer("labels", torch.full((size,), -1, dtype=torch.long))
        self.register_buffer("pointer", torch.zeros((), dtype=torch.long))
        self.register_buffer("filled", torch.zeros((), dtype=torch.long))

    @torch.no_grad()
    def enqueue(
        self, keys: Tensor, labels: Tensor | None = None, exchange: Exchange | None = None
    ) -> None:
        """Append ``keys`` ``(k, dim)`` (the oldest entries are overwritten) once the loss call's
        checks pass (:func:`~contrastor._validation.when_valid`)."""
        check_embeddings(keys, "keys")
        if keys.shape[1] != self.dim:
            raise ValueError(f"keys have dimension {keys.shape[1]}, the queue holds {self.dim}")
        when_valid(lambda: self._append(keys.detach(), labels, exchange or LOCAL))

    @torch.no_grad()
    def _append(self, keys: Tensor, labels: Tensor | None, ex: Exchange) -> None:
        keys = ex.gather(keys)
        if labels is None:
            labels = torch.full((keys.shape[0],), -1, dtype=torch.long, device=keys.device)
        else:
            labels = ex.gather(labels.detach().long())
        keys, labels = keys[-self.size :], labels[-self.size :]
        slots = (self.pointer + torch.arange(keys.shape[0], device=keys.device)) % self.size
        self.features[slots] = keys.to(self.features.dtype)
        self.labels[slots] = labels.to(self.labels.device)
        self.pointer.copy_((self.pointer + keys.shape[0]) % self.size)
        self.filled.copy_(torch.clamp(self.filled + keys.shape[0], max=self.size))

    def features_in_use(self) -> Tensor:
        """The filled part of the queue, ``(filled, dim)``."""
        return self.features[: int(self.filled)]

    def labels_in_use(self) -> Tensor:
        """Labels of :meth:`features_in_use` (-1 where none was given)."""
        return self.labels[: int(self.filled)]

    def extra_repr(self) -> str:
        return f"size={self.size}, dim={self.dim}"
