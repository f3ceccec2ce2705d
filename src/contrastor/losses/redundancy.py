"""Modules for Barlow Twins and VICReg (see :mod:`contrastor.functional.redundancy`)."""

from __future__ import annotations

from typing import Any, ClassVar

from contrastor.functional.redundancy import barlow_twins, vicreg
from contrastor.losses.base import DeclaredLoss
from contrastor.losses.registry import GLOBAL_BATCH, LossSpec, Task, register

__all__ = ["BarlowTwins", "VICReg"]


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
class BarlowTwins(DeclaredLoss):
    """Barlow Twins redundancy reduction: the cross-correlation of the batch-standardised
    features is pushed to the identity (see :func:`contrastor.functional.barlow_twins`).
    DDP (``gather_distributed``): the loss of the gathered global batch.

    Inputs: two ``(n, d)`` views.
    Positives: no pairs of samples; each feature is matched with itself in the other view.
    Settings: ``off_diagonal_weight`` (lambda) 5e-3, the paper's, with wide projectors
    (8,192 features).
    Related: :class:`VICReg`, :class:`PredictiveCosine`.

    Example:
        >>> loss = BarlowTwins(off_diagonal_weight=5e-3)(z1, z2)
    """

    function = staticmethod(barlow_twins)
    defaults: ClassVar[dict[str, Any]] = {"off_diagonal_weight": 5e-3}


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
class VICReg(DeclaredLoss):
    """VICReg: invariance (mean squared distance of the pairs), variance (a hinge on each
    feature's batch standard deviation) and covariance (off-diagonal covariance) terms (see
    :func:`contrastor.functional.vicreg`). DDP (``gather_distributed``): the loss of the
    gathered global batch.

    Inputs: two ``(n, d)`` views.
    Positives: the index-aligned rows (invariance term); there are no negatives.
    Settings: the three term weights, 25, 25 and 1 (the paper's).
    Related: :class:`BarlowTwins`, :class:`PredictiveCosine`.

    Example:
        >>> loss = VICReg()(z1, z2)
    """

    function = staticmethod(vicreg)
    defaults: ClassVar[dict[str, Any]] = {
        "invariance_weight": 25.0,
        "variance_weight": 25.0,
        "covariance_weight": 1.0,
    }
