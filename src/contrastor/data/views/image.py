"""Image views on batched tensors, no torchvision needed.

One affine warp per image combines a random resized crop, a rotation, a shear and a shift
(one ``grid_sample`` call for the whole batch); then brightness/contrast jitter, Gaussian
noise and random erasing. Every random draw comes from an explicit ``torch.Generator``, so a
view is reproducible from its seed (exact resume relies on it).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor


def _uniform(g: torch.Generator, n: int, low: float, high: float) -> Tensor:
    return low + (high - low) * torch.rand(n, generator=g)


@dataclass
class ImageViews:
    """Random views of ``(B, C, H, W)`` images in [0, 1].

    Attributes:
        crop_scale: range of the crop's area fraction (random resized crop).
        crop_ratio: range of the crop's aspect ratio.
        rotation: maximum rotation in degrees.
        shear: maximum shear angle in degrees.
        translate: maximum extra shift as a fraction of the image size.
        brightness, contrast: maximum relative jitter.
        noise: standard deviation of added Gaussian noise.
        erase_prob: chance of erasing one random rectangle; erase_scale: its area range.
    """

    crop_scale: tuple[float, float] = (0.4, 1.0)
    crop_ratio: tuple[float, float] = (3 / 4, 4 / 3)
    rotation: float = 15.0
    shear: float = 10.0
    translate: float = 0.1
    brightness: float = 0.4
    contrast: float = 0.4
    noise: float = 0.05
    erase_prob: float = 0.25
    erase_scale: tuple[float, float] = (0.02, 0.15)

    def affine(self, n: int, g: torch.Generator) -> Tensor:
        """``(n, 2, 3)`` matrices mapping output to input coordinates in [-1, 1]."""
        area = _uniform(g, n, *self.crop_scale)
        log_ratio = _uniform(g, n, math.log(self.crop_ratio[0]), math.log(self.crop_ratio[1]))
        ratio = torch.exp(log_ratio)
        sw = torch.sqrt(area * ratio).clamp(max=1.0)
        sh = torch.sqrt(area / ratio).clamp(max=1.0)
        cx = (2 * torch.rand(n, generator=g) - 1) * (1 - sw)
        cy = (2 * torch.rand(n, generator=g) - 1) * (1 - sh)
        angle = torch.deg2rad(_uniform(g, n, -self.rotation, self.rotation))
        shear = torch.tan(torch.deg2rad(_uniform(g, n, -self.shear, self.shear)))
        shift = _uniform(g, 2 * n, -2 * self.translate, 2 * self.translate).reshape(n, 2)
        cos, sin = torch.cos(angle), torch.sin(angle)
        # A = diag(sw, sh) @ R(angle) @ [[1, shear], [0, 1]]
        a11, a12 = sw * cos, sw * (cos * shear - sin)
        a21, a22 = sh * sin, sh * (sin * shear + cos)
        theta = torch.stack(
            [
                torch.stack([a11, a12, cx + shift[:, 0]], 1),
                torch.stack([a21, a22, cy + shift[:, 1]], 1),
            ],
            1,
        )
        return theta

    def __call__(self, images: Tensor, generator: torch.Generator) -> Tensor:
        """One random view of each image (same shape, values clipped to [0, 1])."""
        if images.ndim != 4:
            raise ValueError(f"images must be (B, C, H, W), got shape {tuple(images.shape)}")
        n = images.shape[0]
        theta = self.affine(n, generator).to(images)
        grid = F.affine_grid(theta, list(images.shape), align_corners=False)
        out = F.grid_sample(images, grid, padding_mode="zeros", align_corners=False)
        gain = _uniform(generator, n, 1 - self.contrast, 1 + self.contrast).to(images)
        offset = _uniform(generator, n, -self.brightness, self.brightness).to(images) * 0.5
        mean = out.mean(dim=(1, 2, 3), keepdim=True)
        out = (out - mean) * gain.view(-1, 1, 1, 1) + mean + offset.view(-1, 1, 1, 1)
        if self.noise > 0:
            noise = torch.randn(out.shape, generator=generator).to(images)
            out = out + self.noise * noise
        out = self._erase(out.clamp(0.0, 1.0), generator)
        return out

    def _erase(self, images: Tensor, g: torch.Generator) -> Tensor:
        n, _, h, w = images.shape
        apply = torch.rand(n, generator=g) < self.erase_prob
        area = _uniform(g, n, *self.erase_scale)
        ratio = torch.exp(_uniform(g, n, math.log(0.3), math.log(3.3)))
        eh = (torch.sqrt(area / ratio) * h).clamp(1, h)
        ew = (torch.sqrt(area * ratio) * w).clamp(1, w)
        top = torch.rand(n, generator=g) * (h - eh)
        left = torch.rand(n, generator=g) * (w - ew)
        rows = torch.arange(h).view(1, h, 1)
        cols = torch.arange(w).view(1, 1, w)
        box = (
            (rows >= top.view(-1, 1, 1))
            & (rows < (top + eh).view(-1, 1, 1))
            & (cols >= left.view(-1, 1, 1))
            & (cols < (left + ew).view(-1, 1, 1))
            & apply.view(-1, 1, 1)
        )
        return images.masked_fill(box.unsqueeze(1).to(images.device), 0.0)


def standardize_styles(images: Tensor, generator: torch.Generator, *, band: float = 1.0) -> Tensor:
    """Batch styles standardisation: every image of the batch takes the Fourier amplitude of
    one image drawn from the batch, keeping its own phase (its content), so the style
    shared by a view's batch carries no domain signal. ``band`` in (0, 1] limits the swap to
    the centred low-frequency square of that relative size (1: the whole spectrum). Draw
    once per view for two views with different styles. Scalbert et al., "Towards
    domain-invariant Self-Supervised Learning with Batch Styles Standardization", ICLR 2024.

    Args:
        images: ``(B, C, H, W)``.
    """
    if images.ndim != 4 or images.shape[0] == 0:
        raise ValueError(
            f"images must be a non-empty (B, C, H, W) batch, got {tuple(images.shape)}"
        )
    if not 0.0 < band <= 1.0:
        raise ValueError(f"band must be in (0, 1], got {band}")
    spectrum = torch.fft.fftshift(torch.fft.fft2(images.double()), dim=(-2, -1))
    amplitude, phase = spectrum.abs(), spectrum.angle()
    pick = int(torch.randint(0, images.shape[0], (1,), generator=generator))
    h, w = images.shape[-2:]
    rows, cols = max(1, round(band * h)), max(1, round(band * w))
    top, left = (h - rows) // 2, (w - cols) // 2
    window = torch.zeros(h, w, dtype=torch.bool)
    window[top : top + rows, left : left + cols] = True
    mixed = torch.where(window, amplitude[pick : pick + 1], amplitude)
    swapped = torch.fft.ifftshift(torch.polar(mixed, phase), dim=(-2, -1))
    return torch.fft.ifft2(swapped).real.to(images.dtype)


def rotation_task(images: Tensor) -> tuple[Tensor, Tensor]:
    """The rotation pretext task: each image turned by 0, 90, 180 and 270 degrees, with the
    quarter turns as labels, ``(4B, C, H, W)`` and ``(4B,)`` (a classification head on the
    encoder predicts them). Gidaris et al., ICLR 2018; used as a regulariser of SimCLR in
    Kinakh et al., "ScatSimCLR: self-supervised contrastive learning with pretext task
    regularization for small-scale datasets", ICCV workshops 2021."""
    if images.ndim != 4 or images.shape[-1] != images.shape[-2]:
        raise ValueError(f"images must be square (B, C, H, H), got {tuple(images.shape)}")
    turned = torch.cat([torch.rot90(images, k, dims=(-2, -1)) for k in range(4)])
    labels = torch.arange(4).repeat_interleave(images.shape[0])
    return turned, labels


def jigsaw_task(
    images: Tensor, generator: torch.Generator, *, grid: int = 2
) -> tuple[Tensor, Tensor]:
    """The jigsaw pretext task: each image's ``grid x grid`` tiles reordered by a random
    permutation, whose index among all ``(grid^2)!`` permutations is the label (a head
    predicts it). Noroozi & Favaro, ECCV 2016; the second pretext task of ScatSimCLR."""
    if images.ndim != 4 or images.shape[-2] % grid or images.shape[-1] % grid:
        raise ValueError(f"image sides must be multiples of grid={grid}")
    if not 2 <= grid <= 3:
        raise ValueError("grid must be 2 or 3")
    b, c, h, w = images.shape
    th, tw = h // grid, w // grid
    tiles = images.reshape(b, c, grid, th, grid, tw).permute(0, 2, 4, 1, 3, 5)
    tiles = tiles.reshape(b, grid * grid, c, th, tw)
    orders = torch.tensor(list(itertools.permutations(range(grid * grid))))
    labels = torch.randint(0, len(orders), (b,), generator=generator)
    shuffled = tiles[torch.arange(b)[:, None], orders[labels]]
    shuffled = shuffled.reshape(b, grid, grid, c, th, tw).permute(0, 3, 1, 4, 2, 5)
    return shuffled.reshape(b, c, h, w), labels
