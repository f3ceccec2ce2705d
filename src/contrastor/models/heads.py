"""Projection head and the encoder + head model trained by contrastive losses."""

from __future__ import annotations

from torch import Tensor, nn


class ProjectionHead(nn.Module):
    """SimCLR's head: ``layers - 1`` Linear-BatchNorm-ReLU blocks of ``hidden`` units, then a
    Linear to ``out_features`` (Chen et al., 2020: 2 layers; SimCLR v2: 3); ``layers=1`` is
    one Linear, ``layers=0`` none (the features themselves, ``in_features == out_features``).
    The loss sees its output; downstream tasks use the encoder features before it."""

    def __init__(
        self, in_features: int, hidden: int = 256, out_features: int = 64, layers: int = 2
    ) -> None:
        super().__init__()
        if layers < 0 or (layers == 0 and in_features != out_features):
            raise ValueError(
                f"a head of {layers} layers cannot map {in_features} to {out_features} features"
            )
        blocks: list[nn.Module] = []
        width = in_features
        for _ in range(layers - 1):
            blocks += [nn.Linear(width, hidden), nn.BatchNorm1d(hidden), nn.ReLU(True)]
            width = hidden
        if layers:
            blocks.append(nn.Linear(width, out_features))
        self.net = nn.Sequential(*blocks)

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


class ContrastiveModel(nn.Module):
    """``encoder`` followed by a :class:`ProjectionHead` of ``head_layers`` layers, ``hidden``
    units wide (0: the wider of ``feature_dim`` and ``embedding_dim``).

    ``forward`` gives projections (for the loss); :meth:`features` the encoder output (for
    evaluation and transfer)."""

    def __init__(
        self,
        encoder: nn.Module,
        feature_dim: int,
        embedding_dim: int = 64,
        head_layers: int = 2,
        hidden: int = 0,
    ) -> None:
        super().__init__()
        self.encoder = encoder
        hidden = hidden or max(feature_dim, embedding_dim)
        self.head = ProjectionHead(feature_dim, hidden, embedding_dim, head_layers)

    def features(self, x: Tensor) -> Tensor:
        return self.encoder(x)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.encoder(x))
