"""Encoders: a small CNN for images, an MLP for vectors and a 1-D CNN for time series."""

from __future__ import annotations

import torch
from torch import Tensor, nn


def _conv(cin: int, cout: int) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(True)]


class SmallCNN(nn.Module):
    """Five 3x3 conv layers (widths w, w, 2w, 2w, 4w) with two 2x2 poolings, then an average
    pool to a ``grid x grid`` map and a Linear-BatchNorm-ReLU layer to ``feature_dim``.

    Keeping a coarse spatial grid (instead of global pooling) preserves where strokes are,
    which matters for small centred images such as digits. Works from 8x8 images up.
    """

    def __init__(
        self, in_channels: int = 1, width: int = 32, feature_dim: int = 128, grid: int = 3
    ) -> None:
        super().__init__()
        if width < 1 or feature_dim < 1 or grid < 1:
            raise ValueError("width, feature_dim and grid must be positive")
        w = width
        self.net = nn.Sequential(
            *_conv(in_channels, w),
            *_conv(w, w),
            nn.MaxPool2d(2),
            *_conv(w, 2 * w),
            *_conv(2 * w, 2 * w),
            nn.MaxPool2d(2),
            *_conv(2 * w, 4 * w),
            nn.AdaptiveAvgPool2d(grid),
            nn.Flatten(),
            nn.Linear(4 * w * grid * grid, feature_dim, bias=False),
            nn.BatchNorm1d(feature_dim),
            nn.ReLU(True),
        )
        self.feature_dim = feature_dim

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


class MLP(nn.Module):
    """``depth`` Linear-BatchNorm-ReLU layers of ``hidden`` units; ``feature_dim = hidden``."""

    def __init__(self, in_features: int, hidden: int = 256, depth: int = 2) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        for i in range(depth):
            layers += [
                nn.Linear(in_features if i == 0 else hidden, hidden),
                nn.BatchNorm1d(hidden),
                nn.ReLU(True),
            ]
        self.net = nn.Sequential(*layers)
        self.feature_dim = hidden

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x.flatten(1))


class Conv1dEncoder(nn.Module):
    """A fully convolutional encoder for ``(B, C, T)`` series (the FCN of time-series
    classification: 1-D convolutions of widths w, 2w, w with kernels 7, 5, 3, BatchNorm and
    ReLU), then a global average over each series' valid steps and a Linear-BatchNorm-ReLU
    layer to ``feature_dim``. With ``lengths`` the padding after each series is set back to
    zero after every block, so a padded series gives (in eval mode) exactly the features of
    the series alone."""

    def __init__(self, in_channels: int, width: int = 64, feature_dim: int = 128) -> None:
        super().__init__()
        if in_channels < 1 or width < 1 or feature_dim < 1:
            raise ValueError("in_channels, width and feature_dim must be positive")
        self.blocks = nn.ModuleList(
            nn.Sequential(
                nn.Conv1d(cin, cout, k, padding=k // 2, bias=False),
                nn.BatchNorm1d(cout),
                nn.ReLU(True),
            )
            for cin, cout, k in (
                (in_channels, width, 7),
                (width, 2 * width, 5),
                (2 * width, width, 3),
            )
        )
        self.out = nn.Sequential(
            nn.Linear(width, feature_dim, bias=False), nn.BatchNorm1d(feature_dim), nn.ReLU(True)
        )
        self.feature_dim = feature_dim

    def forward(self, x: Tensor, lengths: Tensor | None = None) -> Tensor:
        if lengths is None:
            valid = torch.ones(x.shape[0], 1, x.shape[2], dtype=x.dtype, device=x.device)
        else:
            steps = torch.arange(x.shape[2], device=x.device)
            valid = (steps[None] < lengths[:, None].to(x.device)).unsqueeze(1).to(x.dtype)
        h = x * valid
        for block in self.blocks:
            h = block(h) * valid
        return self.out(h.sum(2) / valid.sum(2).clamp_min(1.0))
