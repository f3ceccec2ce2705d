"""Any contrastor loss as a sentence-transformers loss, for ``SentenceTransformerTrainer``
and ``model.fit``: the batch's columns (anchor, positive, then hard negatives) are embedded
by the model and fed to the loss (:func:`~contrastor.integrations.columns_loss`).

``chunk_size`` embeds each column in chunks with cached backward
(:class:`~contrastor.scale.CachedEncoder`, GradCache), so the batch size is not bounded by
activation memory; the loss itself switches to its exact tiled path when the batch is large;
``gather_distributed=True`` on the loss contrasts every rank's anchors with the references
of all ranks under the trainer's DDP.

Example:
    >>> from sentence_transformers import SentenceTransformer, SentenceTransformerTrainer
    >>> model = SentenceTransformer("path/to/model")
    >>> loss = ContrastorLoss(model, InfoNCE(0.05, gather_distributed=True), chunk_size=64)
    >>> SentenceTransformerTrainer(model=model, train_dataset=pairs, loss=loss).train()
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from torch import Tensor, nn

from contrastor.integrations.columns import columns_loss, spec_of
from contrastor.scale import CachedEncoder


class _Embedding(nn.Module):
    """A sentence-transformers model as a module of token tensors (what CachedEncoder
    chunks) returning the sentence embeddings."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, **features: Tensor) -> Tensor:
        return self.model(features)["sentence_embedding"]


class ContrastorLoss(nn.Module):
    """``loss`` (any registered contrastor loss a trainer can feed) on the embeddings the
    sentence-transformers ``model`` gives each column of a batch; ``chunk_size`` > 0 embeds
    with cached backward in chunks of that many texts."""

    def __init__(self, model: nn.Module, loss: nn.Module, chunk_size: int = 0) -> None:
        super().__init__()
        if chunk_size < 0:
            raise ValueError(f"chunk_size must be >= 0, got {chunk_size}")
        spec_of(loss)  # refuse unregistered losses early
        self.model, self.loss, self.chunk_size = model, loss, chunk_size

    def embed(self, features: dict[str, Any]) -> Tensor:
        tensors = {k: v for k, v in features.items() if isinstance(v, Tensor)}
        embedding = _Embedding(self.model)
        if self.chunk_size:
            return CachedEncoder(embedding, self.chunk_size)(tensors)
        return embedding(**tensors)

    def forward(
        self, sentence_features: Iterable[dict[str, Any]], labels: Tensor | None = None
    ) -> Tensor:
        """The loss of a batch; ``labels`` is the dataset's label column (used by the
        supervised losses) or ``None``."""
        columns = [self.embed(features) for features in sentence_features]
        return columns_loss(self.loss, columns, labels)

    def get_config_dict(self) -> dict[str, Any]:
        """What sentence-transformers writes into the model card."""
        options = getattr(self.loss, "options", dict)()
        return {"loss": spec_of(self.loss).name, "chunk_size": self.chunk_size, **options}
