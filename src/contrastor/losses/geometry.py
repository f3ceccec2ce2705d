"""Alignment, uniformity and their sum as loss modules (Wang & Isola, ICML 2020)."""

from __future__ import annotations

from torch import Tensor, nn

from contrastor.engine.output import check_reduction
from contrastor.functional.geometry import alignment, uniformity
from contrastor.losses.registry import LossSpec, Task, register
from contrastor.scale.distributed import exchange_for


class Alignment(nn.Module):
    """``E ||f(x_i) - f(y_i)||^alpha`` over positive pairs (see
    :func:`contrastor.functional.alignment`). DDP: local pairs (no gathering needed).

    Example:
        >>> loss = Alignment(alpha=2)(view1, view2)
    """

    def __init__(
        self,
        alpha: float = 2.0,
        *,
        normalize: bool = True,
        reduction: str = "mean",
        gather_distributed: bool = False,
    ):
        super().__init__()
        self.alpha, self.normalize = alpha, normalize
        self.reduction = check_reduction(reduction)
        self.gather_distributed = gather_distributed

    def forward(self, x: Tensor, y: Tensor, *, weights: Tensor | None = None) -> Tensor:
        return alignment(
            x,
            y,
            alpha=self.alpha,
            normalize=self.normalize,
            weights=weights,
            reduction=self.reduction,
            exchange=exchange_for(self.gather_distributed),
        )


class Uniformity(nn.Module):
    """``log E_{i != j} exp(-t ||f(x_i) - f(x_j)||^2)`` (see
    :func:`contrastor.functional.uniformity`). DDP: local anchors against the gathered batch.

    Example:
        >>> loss = Uniformity(t=2)(embeddings)
    """

    def __init__(
        self,
        t: float = 2.0,
        *,
        normalize: bool = True,
        reduction: str = "mean",
        gather_distributed: bool = False,
    ):
        super().__init__()
        self.t, self.normalize = t, normalize
        self.reduction = check_reduction(reduction)
        self.gather_distributed = gather_distributed

    def forward(self, x: Tensor) -> Tensor:
        return uniformity(
            x,
            t=self.t,
            normalize=self.normalize,
            reduction=self.reduction,
            exchange=exchange_for(self.gather_distributed),
        )


@register(
    LossSpec(
        name="align_uniform",
        title="Alignment + uniformity",
        inputs="2 views",
        positives="index-aligned pair",
        paper=(
            "Wang & Isola 2020, Understanding Contrastive Representation Learning through "
            "Alignment and Uniformity on the Hypersphere"
        ),
        tiled=False,
        ddp="global pairs; uniformity over the gathered batch",
        per_sample=False,
        views=(2, 2),
        feed="pair",
        options=Task.gathered,
    ),
)
class AlignUniform(nn.Module):
    """Wang & Isola's combined objective:
    ``align(x, y) + weight * (unif(x) + unif(y)) / 2``.

    Wang & Isola, "Understanding Contrastive Representation Learning through Alignment and
    Uniformity on the Hypersphere", ICML 2020.

    Example:
        >>> loss = AlignUniform(alpha=2, t=2, weight=1.0)(view1, view2)
    """

    def __init__(
        self,
        alpha: float = 2.0,
        t: float = 2.0,
        weight: float = 1.0,
        *,
        gather_distributed: bool = False,
    ) -> None:
        super().__init__()
        self.alignment = Alignment(alpha, gather_distributed=gather_distributed)
        self.uniformity = Uniformity(t, gather_distributed=gather_distributed)
        self.weight = weight

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        unif = 0.5 * (self.uniformity(x) + self.uniformity(y))
        return self.alignment(x, y) + self.weight * unif
