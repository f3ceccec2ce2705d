"""Modules for Barlow Twins and VICReg (see :mod:`contrastor.functional.redundancy`)."""

from __future__ import annotations

from torch import Tensor, nn

from contrastor.functional.redundancy import barlow_twins, vicreg
from contrastor.losses.registry import GLOBAL_BATCH, LossSpec, Task, register
from contrastor.scale.distributed import exchange_for


@register(
    LossSpec(
        name="barlow_twins",
        title="Barlow Twins",
        inputs="2 views",
        positives="same feature across views (cross-correlation)",
        paper=(
            "Zbontar et al. 2021, Barlow Twins: Self-Supervised Learning via Redundancy Reduction"
        ),
        tiled=False,
        ddp=GLOBAL_BATCH,
        per_sample=False,
        views=(2, 2),
        feed="pair",
        options=Task.gathered,
        function=barlow_twins,
    ),
)
class BarlowTwins(nn.Module):
    """Barlow Twins redundancy reduction (see :func:`contrastor.functional.barlow_twins`).
    DDP (``gather_distributed``): the loss of the gathered global batch.

    Example:
        >>> loss = BarlowTwins(off_diagonal_weight=5e-3)(z1, z2)
    """

    def __init__(self, off_diagonal_weight: float = 5e-3, *, gather_distributed: bool = False):
        super().__init__()
        self.off_diagonal_weight = off_diagonal_weight
        self.gather_distributed = gather_distributed

    def forward(self, a: Tensor, b: Tensor) -> Tensor:
        return barlow_twins(
            a,
            b,
            off_diagonal_weight=self.off_diagonal_weight,
            exchange=exchange_for(self.gather_distributed),
        )


@register(
    LossSpec(
        name="vicreg",
        title="VICReg",
        inputs="2 views",
        positives="the other view (invariance term)",
        paper="Bardes et al. 2022, VICReg: Variance-Invariance-Covariance Regularization",
        tiled=False,
        ddp=GLOBAL_BATCH,
        per_sample=False,
        views=(2, 2),
        feed="pair",
        options=Task.gathered,
        function=vicreg,
    ),
)
class VICReg(nn.Module):
    """VICReg (see :func:`contrastor.functional.vicreg`). DDP (``gather_distributed``): the
    loss of the gathered global batch.

    Example:
        >>> loss = VICReg()(z1, z2)
    """

    def __init__(
        self,
        invariance_weight: float = 25.0,
        variance_weight: float = 25.0,
        covariance_weight: float = 1.0,
        *,
        gather_distributed: bool = False,
    ):
        super().__init__()
        self.weights = {
            "invariance_weight": invariance_weight,
            "variance_weight": variance_weight,
            "covariance_weight": covariance_weight,
        }
        self.gather_distributed = gather_distributed

    def forward(self, a: Tensor, b: Tensor) -> Tensor:
        return vicreg(a, b, **self.weights, exchange=exchange_for(self.gather_distributed))
