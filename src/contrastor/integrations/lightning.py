"""A Lightning module that trains any encoder with a contrastor loss, on one device or under
Lightning's DDP strategy (a loss built with ``gather_distributed=True`` contrasts each
rank's anchors with the references of all ranks; the gradients equal those of one process
on the whole batch).

A batch is a tuple or list of column tensors ``(anchor, positive, *negatives)`` — two views
of the same images, a query and its document — or a mapping with ``columns`` (that list)
and optional ``labels`` for the supervised losses.

Example:
    >>> module = ContrastiveModule(encoder, NTXent(0.2, gather_distributed=True), lr=1e-3)
    >>> lightning.Trainer(strategy="ddp", devices=2, max_epochs=10).fit(module, loader)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import lightning
import torch
from torch import Tensor, nn

from contrastor.integrations.columns import columns_loss, spec_of
from contrastor.scale import CachedEncoder


def split_batch(batch: Any) -> tuple[list[Tensor], Tensor | None]:
    """The columns and labels of a batch (module docstring)."""
    if isinstance(batch, Mapping):
        return list(batch["columns"]), batch.get("labels")
    if isinstance(batch, Sequence) and not isinstance(batch, Tensor):
        return list(batch), None
    raise ValueError(
        "a batch is a list of column tensors or a mapping with 'columns' (and 'labels'), "
        f"got {type(batch).__name__}"
    )


class ContrastiveModule(lightning.LightningModule):
    """``encoder`` trained with ``loss`` by ``optimizer`` (AdamW by default) at ``lr`` and
    ``weight_decay``; ``chunk_size`` > 0 embeds each column in chunks with cached backward.
    ``forward`` is the encoder."""

    def __init__(
        self,
        encoder: nn.Module,
        loss: nn.Module,
        *,
        lr: float = 1e-3,
        weight_decay: float = 1e-4,
        chunk_size: int = 0,
        optimizer: type[torch.optim.Optimizer] = torch.optim.AdamW,
    ) -> None:
        super().__init__()
        spec_of(loss)
        self.encoder, self.loss, self.optimizer_class = encoder, loss, optimizer
        self.lr, self.weight_decay, self.chunk_size = lr, weight_decay, chunk_size

    def forward(self, x: Any) -> Tensor:
        return self.encoder(x)

    def batch_loss(self, batch: Any) -> Tensor:
        """The loss of one batch (the training step without logging)."""
        columns, labels = split_batch(batch)
        embed = CachedEncoder(self.encoder, self.chunk_size) if self.chunk_size else self.encoder
        return columns_loss(self.loss, [embed(c) for c in columns], labels)

    def training_step(self, batch: Any, batch_idx: int) -> Tensor:
        loss = self.batch_loss(batch)
        self.log("train_loss", loss, prog_bar=True, sync_dist=True)
        return loss

    def validation_step(self, batch: Any, batch_idx: int) -> Tensor:
        loss = self.batch_loss(batch)
        self.log("val_loss", loss, sync_dist=True)
        return loss

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return self.optimizer_class(self.parameters(), lr=self.lr, weight_decay=self.weight_decay)
