"""Encoders and heads."""

from contrastor.models.encoders import MLP, Conv1dEncoder, SmallCNN
from contrastor.models.heads import ContrastiveModel, ProjectionHead

__all__ = ["MLP", "ContrastiveModel", "Conv1dEncoder", "ProjectionHead", "SmallCNN"]
