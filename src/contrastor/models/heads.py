"""Projection head and the encoder + head model trained by contrastive losses."""

from __future__ import annotations

from torch import Tensor, nn


class ProjectionHead(nn.Module):
    """SimCLR's head: Linear-BatchNorm-ReLU-Linear (Chen et al., 2020). The loss sees its
    output; downstream tasks use the encoder features before it."""

    def __init__(self, in_features: int, hidden: int = 256, out_features: int = 64) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(in_features, hidden),
            nn.BatchNorm1d(hidden),
            nn.ReLU(True),
            nn.Linear(hidden, out_features),
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


class ContrastiveModel(nn.Module):
    """``encoder`` followed by a :class:`ProjectionHead`.

    ``forward`` gives projections (for the loss); :meth:`features` the encoder output (for
    evaluation and transfer)."""

    def __init__(self, encoder: nn.Module, feature_dim: int, embedding_dim: int = 64) -> None:
        super().__init__()
        self.encoder = encoder
        self.head = ProjectionHead(feature_dim, max(feature_dim, embedding_dim), embedding_dim)

    def features(self, x: Tensor) -> Tensor:
        return self.encoder(x)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.encoder(x))
