"""Per-timestamp encoders for time series: TS2Vec's dilated convolutional network."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class _DilatedBlock(nn.Module):
    """GELU, dilated convolution, GELU, dilated convolution, plus the input (through a 1x1
    convolution when the width changes or on the last block)."""

    def __init__(self, cin: int, cout: int, kernel: int, dilation: int, last: bool) -> None:
        super().__init__()
        padding = (kernel - 1) * dilation // 2
        self.first = nn.Conv1d(cin, cout, kernel, padding=padding, dilation=dilation)
        self.second = nn.Conv1d(cout, cout, kernel, padding=padding, dilation=dilation)
        self.skip = nn.Conv1d(cin, cout, 1) if cin != cout or last else None

    def forward(self, x: Tensor, valid: Tensor) -> Tensor:
        """``valid`` ``(B, 1, T)``: 1 at the valid steps; the others are zero after each
        convolution, as if the series ended there."""
        residual = x if self.skip is None else self.skip(x)
        inner = self.first(F.gelu(x)) * valid
        return (self.second(F.gelu(inner)) + residual) * valid


class DilatedConvEncoder(nn.Module):
    """TS2Vec's encoder: a linear input projection to ``hidden`` channels per timestamp,
    ``depth`` residual blocks of dilated convolutions (kernel 3, dilation 1, 2, 4, ...) and a
    last block to ``out_dim``; one ``out_dim`` vector per timestamp, so any window of a
    series has representations and a series' whole representation is their max over time
    (:meth:`pooled`). Yue et al., "TS2Vec: Towards Universal Representation of Time Series",
    AAAI 2022 (there: 64 hidden, depth 10, 320 out, dropout 0.1 on the output).

    ``forward(x, lengths=None, keep=None)``: ``x`` ``(B, C, T)``; steps at or after a series'
    length are zero after every block, so a padded series gives (in eval mode) the
    representations of the series alone; ``keep`` ``(B, T)`` boolean zeroes the projected
    input at the other steps (TS2Vec's timestamp masking, drawn by the caller for training).
    Returns ``(B, T, out_dim)``.

    Example:
        >>> encoder = DilatedConvEncoder(in_channels=1)
        >>> per_step = encoder(x)                     # (B, T, 320)
        >>> whole = encoder.pooled(x, lengths)        # (B, 320)
    """

    def __init__(
        self,
        in_channels: int,
        hidden: int = 64,
        out_dim: int = 320,
        depth: int = 10,
        dropout: float = 0.1,
    ) -> None:
        super().__init__()
        if min(in_channels, hidden, out_dim) < 1 or depth < 0 or not 0 <= dropout < 1:
            raise ValueError("channels must be positive, depth >= 0 and dropout in [0, 1)")
        self.project = nn.Linear(in_channels, hidden)
        widths = [hidden] * (depth + 1) + [out_dim]
        self.blocks = nn.ModuleList(
            _DilatedBlock(widths[i], widths[i + 1], 3, 2**i, last=i == depth)
            for i in range(depth + 1)
        )
        self.dropout = nn.Dropout(dropout)
        self.feature_dim = out_dim

    def forward(
        self, x: Tensor, lengths: Tensor | None = None, keep: Tensor | None = None
    ) -> Tensor:
        if x.ndim != 3:
            raise ValueError(f"series must be (B, C, T), got shape {tuple(x.shape)}")
        valid = _valid(x.shape[0], x.shape[2], lengths, x.device)
        h = self.project(x.transpose(1, 2))
        h = h * (valid if keep is None else valid & keep.to(x.device)).unsqueeze(-1)
        h = h.transpose(1, 2)
        mask = valid.unsqueeze(1).to(h.dtype)
        for block in self.blocks:
            h = block(h, mask)
        return self.dropout(h.transpose(1, 2))

    def pooled(self, x: Tensor, lengths: Tensor | None = None) -> Tensor:
        """One vector per series: the max over its valid timesteps."""
        h = self(x, lengths)
        valid = _valid(h.shape[0], h.shape[1], lengths, h.device)
        return h.masked_fill(~valid.unsqueeze(-1), float("-inf")).amax(1)


def _valid(batch: int, steps: int, lengths: Tensor | None, device: torch.device) -> Tensor:
    """``(batch, steps)``: True before each series' length (everywhere without lengths)."""
    limit = steps if lengths is None else lengths[:, None].to(device)
    return (torch.arange(steps, device=device)[None] < limit).expand(batch, steps)
