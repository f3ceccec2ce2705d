"""Alignment, uniformity and their sum as loss modules (Wang & Isola, ICML 2020)."""

from __future__ import annotations

from typing import Any, ClassVar

from contrastor.functional.geometry import align_uniform, alignment, uniformity
from contrastor.losses.base import DeclaredLoss
from contrastor.losses.registry import LossSpec, Task, register

__all__ = ["AlignUniform", "Alignment", "Uniformity"]


class Alignment(DeclaredLoss):
    """``E ||f(x_i) - f(y_i)||^alpha`` over positive pairs (see
    :func:`contrastor.functional.alignment`). DDP: local pairs (no gathering needed).

    Inputs: two ``(n, d)`` batches; ``normalize`` puts them on the unit sphere first.
    Positives: the index-aligned rows; there are no negatives.
    Settings: ``alpha`` 2 (the paper's), ``normalize``.
    Related: :class:`Uniformity`, :class:`AlignUniform`.

    Example:
        >>> loss = Alignment(alpha=2)(view1, view2)
    """

    function = staticmethod(alignment)
    defaults: ClassVar[dict[str, Any]] = {"alpha": 2.0, "normalize": True}


class Uniformity(DeclaredLoss):
    """``log E_{i != j} exp(-t ||f(x_i) - f(x_j)||^2)`` (see
    :func:`contrastor.functional.uniformity`). DDP: local anchors against the gathered batch.

    Inputs: one ``(n, d)`` batch.
    Positives: none; every pair is pushed apart, the closer ones harder.
    Settings: ``t`` 2 (the paper's), ``normalize``.
    Related: :class:`Alignment`, :class:`AlignUniform`.

    Example:
        >>> loss = Uniformity(t=2)(embeddings)
    """

    function = staticmethod(uniformity)
    defaults: ClassVar[dict[str, Any]] = {"t": 2.0, "normalize": True}


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
        function=align_uniform,
    ),
)
class AlignUniform(DeclaredLoss):
    """Wang & Isola's combined objective ``align(x, y) + weight * (unif(x) + unif(y)) / 2``
    (see :func:`contrastor.functional.align_uniform`).

    Inputs: two ``(n, d)`` views.
    Positives: the index-aligned rows; uniformity spreads each view over the sphere.
    Settings: ``alpha`` and ``t`` 2 (the paper's), ``weight`` 1.
    Related: :class:`Alignment`, :class:`Uniformity`; :class:`NTXent` optimises both
    properties at once.

    Example:
        >>> loss = AlignUniform(alpha=2, t=2, weight=1.0)(view1, view2)
    """

    function = staticmethod(align_uniform)
    defaults: ClassVar[dict[str, Any]] = {"alpha": 2.0, "t": 2.0, "weight": 1.0}
