"""Image backbones from transformers (``[text]`` extra): a local model folder — ViT, ResNet,
ConvNeXt, any ``AutoModel`` image model — with its weights when the folder has them, or
randomly initialised from its ``config.json`` alone. Nothing is downloaded."""

from __future__ import annotations

import json
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from contrastor.models.folders import model_folder

WEIGHT_FILES = (
    "model.safetensors",
    "model.safetensors.index.json",
    "pytorch_model.bin",
    "pytorch_model.bin.index.json",
)


def _size(value: object) -> tuple[int, int] | None:
    if isinstance(value, int):
        return value, value
    if isinstance(value, (list, tuple)) and len(value) == 2:
        return int(value[0]), int(value[1])
    return None


class VisionBackbone(nn.Module):
    """A transformers image model as an encoder of ``(B, C, H, W)`` images in [0, 1]: grey
    images are repeated to the model's channels, resized to its ``image_size`` when it has
    one (ViT), normalised with its preprocessor's mean and std (0.5 and 0.5 without one),
    and pooled by the model's pooler (or the mean of its last hidden states)."""

    def __init__(self, path: str | Path) -> None:
        super().__init__()
        folder = model_folder(path)
        try:
            from transformers import AutoConfig, AutoModel
        except ModuleNotFoundError as error:
            raise ModuleNotFoundError(
                "transformers image models need transformers: pip install 'contrastor[text]'"
            ) from error
        config = AutoConfig.from_pretrained(folder)
        self.pretrained = any((folder / name).is_file() for name in WEIGHT_FILES)
        if self.pretrained:
            self.model = AutoModel.from_pretrained(folder)
        else:
            self.model = AutoModel.from_config(config)
        self.channels = int(getattr(config, "num_channels", 3))
        self.size = _size(getattr(config, "image_size", None))
        mean, std = [0.5] * self.channels, [0.5] * self.channels
        processor = folder / "preprocessor_config.json"
        if processor.is_file():
            settings = json.loads(processor.read_text())
            mean, std = settings.get("image_mean", mean), settings.get("image_std", std)
        self.register_buffer("mean", torch.tensor(mean).view(1, -1, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std).view(1, -1, 1, 1), persistent=False)
        hidden = getattr(config, "hidden_sizes", None)
        self.feature_dim = int(hidden[-1] if hidden else config.hidden_size)

    def forward(self, images: Tensor) -> Tensor:
        if images.shape[1] != self.channels:
            if images.shape[1] != 1:
                raise ValueError(
                    f"the model takes {self.channels}-channel images, got {images.shape[1]}"
                )
            images = images.expand(-1, self.channels, -1, -1)
        if self.size is not None and tuple(images.shape[-2:]) != self.size:
            images = F.interpolate(images, size=self.size, mode="bilinear", align_corners=False)
        out = self.model(pixel_values=(images - self.mean) / self.std)
        pooled = getattr(out, "pooler_output", None)
        if pooled is None:
            pooled = out.last_hidden_state.mean(1)
        return pooled.flatten(1)
