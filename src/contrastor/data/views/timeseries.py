"""Views of ``(B, C, T)`` time series with per-series valid lengths (zero padding after):
jitter, scaling, permutation of segments, cropping (resampled back to the series' length)
and masking of time steps. Each transform draws from an explicit generator and leaves the
padding at zero."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor


def _check_series(x: Tensor, lengths: Tensor) -> None:
    if x.ndim != 3 or lengths.shape != (x.shape[0],):
        raise ValueError(
            f"x must be (B, C, T) with lengths (B,), got {tuple(x.shape)} and "
            f"{tuple(lengths.shape)}"
        )


def _valid(lengths: Tensor, steps: int) -> Tensor:
    """``(B, 1, T)`` mask of the valid time steps."""
    return (torch.arange(steps)[None, :] < lengths[:, None]).unsqueeze(1)


@dataclass
class SeriesViews:
    """Random views of time series, the augmentations of TS-TCC / TS2Vec style pre-training:

    - ``crop``: keep a random window of ``crop`` .. 1 of each series, resampled (linearly)
      to its original length;
    - ``segments``: cut into up to ``segments`` pieces and shuffle them (permutation);
    - ``scaling``: multiply each channel by ``1 + scaling * N(0, 1)``;
    - ``jitter``: add ``jitter * std(series) * N(0, 1)`` noise;
    - ``mask``: zero each valid time step with probability ``mask``.

    Example:
        >>> views = SeriesViews()
        >>> v1, v2 = views(x, lengths, g), views(x, lengths, g)
    """

    crop: float = 0.8
    segments: int = 4
    scaling: float = 0.1
    jitter: float = 0.03
    mask: float = 0.1

    def __call__(self, x: Tensor, lengths: Tensor, generator: torch.Generator) -> Tensor:
        _check_series(x, lengths)
        g = generator
        out = torch.stack(
            [self._crop_permute(s, int(n), g) for s, n in zip(x, lengths.tolist(), strict=True)]
        )
        b, c, t = out.shape
        valid = _valid(lengths, t).to(out.dtype)
        out = out * (1 + self.scaling * torch.randn(b, c, 1, generator=g))
        scale = (out.square().sum(2, keepdim=True) / lengths.view(-1, 1, 1)).sqrt()
        out = out + self.jitter * scale * torch.randn(b, c, t, generator=g)
        keep = (torch.rand(b, 1, t, generator=g) >= self.mask).to(out.dtype)
        return out * keep * valid

    def _crop_permute(self, series: Tensor, length: int, g: torch.Generator) -> Tensor:
        valid = series[:, :length]
        width = max(
            2, round(length * (self.crop + (1 - self.crop) * float(torch.rand(1, generator=g))))
        )
        width = min(width, length)
        start = int(torch.randint(0, length - width + 1, (1,), generator=g))
        window = valid[:, start : start + width]
        if width != length:
            window = F.interpolate(window[None], size=length, mode="linear", align_corners=True)[0]
        pieces = int(torch.randint(1, self.segments + 1, (1,), generator=g))
        if pieces > 1 and length >= pieces:
            cuts = torch.randperm(length - 1, generator=g)[: pieces - 1].add(1).sort().values
            parts = torch.tensor_split(window, cuts.tolist(), dim=1)
            order = torch.randperm(len(parts), generator=g).tolist()
            window = torch.cat([parts[k] for k in order], dim=1)
        return F.pad(window, (0, series.shape[1] - length))


@dataclass
class CropPair:
    """Two overlapping windows of each series: ``first`` ends with the ``overlap`` shared
    timestamps and ``second`` begins with them (``first[..., -overlap:]`` and
    ``second[..., :overlap]`` are the same values)."""

    first: Tensor
    second: Tensor
    overlap: int


@dataclass
class OverlappingCrops:
    """TS2Vec's contextual views: two windows of each series that overlap, taken as they are
    (no resampling), so the shared timestamps are seen in two different contexts.

    For a batch whose shortest series has ``T`` valid steps: an overlap ``[a, b)`` of
    ``min_overlap`` .. ``T`` steps; the first window starts at or before ``a`` and ends at
    ``b``, the second starts at ``a`` and ends at or after ``b``; the whole geometry is
    shifted per series by an offset that keeps both windows inside its valid steps. Yue et
    al., "TS2Vec: Towards Universal Representation of Time Series", AAAI 2022.

    Example:
        >>> crops = OverlappingCrops()(x, lengths, g)
        >>> r1 = encoder(crops.first)[:, -crops.overlap:]
        >>> r2 = encoder(crops.second)[:, : crops.overlap]
    """

    min_overlap: int = 2

    def __call__(self, x: Tensor, lengths: Tensor, generator: torch.Generator) -> CropPair:
        _check_series(x, lengths)
        shortest = int(lengths.min())
        if shortest < self.min_overlap:
            raise ValueError(
                f"a series of {shortest} steps is shorter than min_overlap={self.min_overlap}"
            )

        def draw(low: int, high: int, size: int = 1) -> Tensor:
            return torch.randint(low, high + 1, (size,), generator=generator)

        overlap = int(draw(self.min_overlap, shortest))
        a = int(draw(0, shortest - overlap))
        b = a + overlap
        start, end = int(draw(0, a)), int(draw(b, shortest))
        room = lengths.cpu() - end + start  # each series' free steps around the windows
        offset = (torch.rand(len(lengths), generator=generator) * (room + 1)).floor().long()
        offset = offset.clamp(max=room) - start
        return CropPair(
            _windows(x, offset + start, b - start), _windows(x, offset + a, end - a), overlap
        )


def _windows(x: Tensor, starts: Tensor, width: int) -> Tensor:
    """``x[i, :, starts[i] : starts[i] + width]`` for every series i."""
    index = (starts[:, None] + torch.arange(width)[None]).to(x.device)
    return x.gather(2, index[:, None, :].expand(-1, x.shape[1], -1))
