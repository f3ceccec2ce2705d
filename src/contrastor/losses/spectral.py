"""The spectral contrastive loss module."""

from __future__ import annotations

from typing import Any, ClassVar

from contrastor.functional.spectral import spectral_contrastive
from contrastor.losses.base import DeclaredLoss
from contrastor.losses.registry import LossSpec, Task, register

__all__ = ["SpectralContrastive"]


@register(
    LossSpec(
        name="spectral_contrastive",
        title="Spectral contrastive",
        inputs="2 views",
        positives="the other view; every other sample's view is a squared-similarity negative",
        paper=(
            "HaoChen et al. 2021, Provable Guarantees for Self-Supervised Deep Learning with "
            "Spectral Contrastive Loss"
        ),
        tiled=False,
        ddp="local anchors vs gathered negatives",
        views=(2, 2),
        feed="pair",
        options=Task.gathered,
        function=spectral_contrastive,
    ),
)
class SpectralContrastive(DeclaredLoss):
    """Spectral contrastive loss (see :func:`contrastor.functional.spectral_contrastive`).
    HaoChen et al., NeurIPS 2021.

    Inputs: two ``(n, d)`` views of the same samples (raw projector outputs: the loss uses
    their length, capped at ``sqrt(mu)``).
    Positives: the other view of the sample; negatives enter squared, with no softmax and no
    temperature.
    Settings: ``mu`` 1 (the authors' default); memory ``O(n d + d^2)`` for any batch.
    Related: :class:`BarlowTwins` (a ``d x d`` statistic too), :class:`NTXent`.

    Example:
        >>> loss = SpectralContrastive()(z1, z2)
    """

    function = staticmethod(spectral_contrastive)
    defaults: ClassVar[dict[str, Any]] = {"mu": 1.0}
