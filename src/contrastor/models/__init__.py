"""Encoders and heads."""

from contrastor.models.encoders import MLP, SmallCNN
from contrastor.models.heads import ContrastiveModel, ProjectionHead

__all__ = ["MLP", "ContrastiveModel", "ProjectionHead", "SmallCNN"]
