"""Noise-robust loss modules: RINCE and InfoNCE with soft re-targeting."""

from __future__ import annotations

from typing import Any, ClassVar

from torch import Tensor

from contrastor.engine.output import ContrastiveOutput
from contrastor.functional.robust import rince
from contrastor.losses.base import TemperatureLoss
from contrastor.losses.registry import LossSpec, register


@register(
    LossSpec(
        name="rince",
        title="RINCE (robust InfoNCE)",
        inputs="queries, references (+ labels or targets)",
        positives="index-aligned or labelled; hard positives down-weighted (noise-robust)",
        paper="Chuang et al. 2022, Robust Contrastive Learning against Noisy Views",
        tiled=True,
        views=(2, 2),
        feed="pair",
        function=rince,
    ),
)
class RINCE(TemperatureLoss):
    """Robust InfoNCE (see :func:`contrastor.functional.rince`); ``symmetric`` averages both
    directions. Chuang et al., CVPR 2022.

    Example:
        >>> loss = RINCE(0.1, q=0.5, lam=0.01)(img_emb, txt_emb)
    """

    defaults: ClassVar[dict[str, Any]] = {"q": 0.5, "lam": 0.01, "symmetric": True}

    def forward(
        self,
        query: Tensor,
        reference: Tensor,
        *,
        weights: Tensor | None = None,
        return_output: bool = False,
    ) -> Tensor | ContrastiveOutput:
        run = {
            "temperature": self.temperature(),
            "q": self.q,
            "lam": self.lam,
            "similarity": self.similarity,
            "weights": weights,
            "reduction": self.reduction,
            **self.run_options(),
        }
        forward = rince(query, reference, return_output=True, **run)
        if not self.symmetric:
            return forward if return_output else forward.loss
        backward = rince(reference, query, return_output=True, **run)
        output = ContrastiveOutput(
            0.5 * (forward.per_anchor + backward.per_anchor),
            forward.mask | backward.mask,
            {},
            0.5 * (forward.loss + backward.loss),
        )
        return output if return_output else output.loss
