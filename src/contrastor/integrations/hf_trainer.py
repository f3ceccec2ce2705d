"""Dual encoders in the Hugging Face ``Trainer``: :class:`DualEncoder` is a model whose
forward returns the contrastive loss of a batch of text columns (so the stock ``Trainer``
trains it, under its DDP too), and :class:`ColumnCollator` tokenises the columns.

Example:
    >>> model = DualEncoder(AutoModel.from_pretrained(path), InfoNCE(0.05), ["query", "doc"])
    >>> args = TrainingArguments(out, remove_unused_columns=False, per_device_train_batch_size=64)
    >>> collate = ColumnCollator(AutoTokenizer.from_pretrained(path), ["query", "doc"])
    >>> Trainer(model=model, args=args, train_dataset=rows, data_collator=collate).train()

``remove_unused_columns=False`` keeps the text columns for the collator.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from contrastor.integrations.columns import columns_loss, spec_of
from contrastor.scale import CachedEncoder


def mean_pool(states: Tensor, mask: Tensor) -> Tensor:
    """Token states averaged over the attention mask."""
    weight = mask.unsqueeze(-1).to(states.dtype)
    return (states * weight).sum(1) / weight.sum(1).clamp_min(1e-9)


class MeanPooled(nn.Module):
    """A transformers encoder returning mean-pooled sentence embeddings of token tensors,
    through an optional ``projection`` after the pooling."""

    def __init__(self, encoder: nn.Module, projection: nn.Module | None = None) -> None:
        super().__init__()
        self.encoder, self.projection = encoder, projection

    def forward(self, input_ids: Tensor, attention_mask: Tensor, **rest: Tensor) -> Tensor:
        states = self.encoder(input_ids=input_ids, attention_mask=attention_mask, **rest)
        pooled = mean_pool(states.last_hidden_state, attention_mask)
        return pooled if self.projection is None else self.projection(pooled)


class DualEncoder(nn.Module):
    """Encoders of text ``columns`` (one shared ``encoder``, or one per column in
    ``encoders``), mean pooling, an optional linear projection to ``projection`` dims, and
    a contrastor ``loss`` on the columns (:func:`~contrastor.integrations.columns_loss`).

    ``forward(labels=None, **columns)`` takes each column's tokenised batch by name and
    returns ``{"loss", "embeddings"}``; ``chunk_size`` > 0 embeds with cached backward. The
    loss's parameters (a learnable temperature) train with the model."""

    def __init__(
        self,
        encoder: nn.Module,
        loss: nn.Module,
        columns: Sequence[str],
        *,
        encoders: Mapping[str, nn.Module] | None = None,
        projection: int = 0,
        chunk_size: int = 0,
    ) -> None:
        super().__init__()
        if len(columns) < 2:
            raise ValueError("a dual encoder needs at least two columns (anchor, positive)")
        spec_of(loss)
        self.columns, self.loss, self.chunk_size = list(columns), loss, chunk_size
        self.encoder = MeanPooled(encoder)
        self.towers = nn.ModuleDict({k: MeanPooled(v) for k, v in (encoders or {}).items()})
        width = int(encoder.config.hidden_size)
        self.projection = nn.Linear(width, projection) if projection else nn.Identity()

    def embed(self, column: str, features: Mapping[str, Tensor]) -> Tensor:
        """The embeddings of one column's tokenised batch."""
        tower = dict(self.towers.items()).get(column, self.encoder)
        tensors = {k: v for k, v in features.items() if isinstance(v, Tensor)}
        pooled = (
            CachedEncoder(tower, self.chunk_size)(tensors) if self.chunk_size else tower(**tensors)
        )
        return self.projection(pooled)

    def forward(self, labels: Tensor | None = None, **columns: Any) -> dict[str, Tensor]:
        missing = [c for c in self.columns if c not in columns]
        if missing:
            raise ValueError(f"the batch has no column(s) {missing}; it has {sorted(columns)}")
        embeddings = [self.embed(c, columns[c]) for c in self.columns]
        loss = columns_loss(self.loss, embeddings, labels)
        return {"loss": loss, "embeddings": torch.stack([e.detach() for e in embeddings[:2]])}


class ColumnCollator:
    """Tokenises the text ``columns`` of a list of examples: ``{column: tokens}``, plus
    ``labels`` from ``label_column`` when the examples have it."""

    def __init__(
        self,
        tokenizer: Any,
        columns: Sequence[str],
        max_length: int = 128,
        label_column: str = "label",
    ) -> None:
        self.tokenizer, self.columns = tokenizer, list(columns)
        self.max_length, self.label_column = max_length, label_column

    def __call__(self, examples: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        batch: dict[str, Any] = {}
        for column in self.columns:
            texts = [str(example[column]) for example in examples]
            batch[column] = dict(
                self.tokenizer(
                    texts,
                    padding=True,
                    truncation=True,
                    max_length=self.max_length,
                    return_tensors="pt",
                )
            )
        if examples and self.label_column in examples[0]:
            batch["labels"] = torch.tensor([example[self.label_column] for example in examples])
        return batch
