"""Modules for cross-modal losses: CWCL, CLIP with contrastive-gap terms, and Symile."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from contrastor.engine.output import ContrastiveOutput
from contrastor.functional.crossmodal import contrastive_gap, cwcl, symile
from contrastor.losses.base import TemperatureLoss


class CWCL(TemperatureLoss):
    """Continuously weighted contrastive loss (see :func:`contrastor.functional.cwcl`).
    Srinivasa et al., NeurIPS 2023.

    Example:
        >>> loss = CWCL(0.05)(trainable_emb, frozen_emb)
    """

    defaults: ClassVar[dict[str, Any]] = {"symmetric": True}

    def forward(
        self,
        query: Tensor,
        reference: Tensor,
        *,
        guide: Tensor | None = None,
        weights: Tensor | None = None,
        return_output: bool = False,
    ) -> Tensor | ContrastiveOutput:
        return cwcl(
            query,
            reference,
            guide=guide,
            temperature=self.temperature(),
            similarity=self.similarity,
            weights=weights,
            reduction=self.reduction,
            return_output=return_output,
            **self.options(),
            **self.run_options(),
        )


class ContrastiveGap(TemperatureLoss):
    """CLIP loss plus alignment and uniformity terms (see
    :func:`contrastor.functional.contrastive_gap`). Fahim et al., 2024.

    Example:
        >>> loss = ContrastiveGap(0.07, learnable_temperature=True)(image_emb, text_emb)
    """

    defaults: ClassVar[dict[str, Any]] = {
        "uniformity_weight": 1.0,
        "alignment_weight": 1.0,
        "joint_uniformity": True,
    }

    def forward(self, query: Tensor, reference: Tensor, *, weights: Tensor | None = None) -> Tensor:
        return contrastive_gap(
            query,
            reference,
            temperature=self.temperature(),
            weights=weights,
            reduction=self.reduction,
            **self.options(),
            **self.run_options(),
        )


class Symile(TemperatureLoss):
    """Symile over three or more modalities (see :func:`contrastor.functional.symile`), with
    one learned embedding per modality standing in for missing data.

    Example:
        >>> loss_fn = Symile(modalities=3, dim=64)
        >>> loss = loss_fn(image_emb, text_emb, audio_emb, present=mask)
    """

    def __init__(self, temperature: float = 0.07, *, modalities: int = 3, dim: int, **kwargs):
        super().__init__(temperature, **kwargs)
        self.missing = nn.Parameter(torch.randn(modalities, dim) / dim**0.5)

    def forward(
        self,
        *modalities: Tensor | Sequence[Tensor],
        present: Tensor | None = None,
        weights: Tensor | None = None,
        return_output: bool = False,
    ) -> Tensor | ContrastiveOutput:
        xs = list(modalities[0]) if len(modalities) == 1 else list(modalities)
        return symile(
            xs,
            temperature=self.temperature(),
            present=present,
            missing=self.missing if present is not None else None,
            weights=weights,
            reduction=self.reduction,
            return_output=return_output,
            **self.run_options(),
        )
