"""Modules for the multi-view objectives MV-InfoNCE and MV-DHEL."""

from __future__ import annotations

from contrastor.functional.multiview import mv_dhel, mv_info_nce
from contrastor.losses.registry import LossSpec, register
from contrastor.losses.supcon import _ViewsLoss

__all__ = ["MVDHEL", "MVInfoNCE"]


@register(
    LossSpec(
        name="mv_info_nce",
        title="MV-InfoNCE",
        inputs="V >= 2 views",
        positives="all view pairs of the sample, one term per sample",
        paper="Koromilas et al. 2025, A Principled Framework for Multi-View Contrastive Learning",
        tiled=True,
        function=mv_info_nce,
    ),
)
class MVInfoNCE(_ViewsLoss):
    """MV-InfoNCE, one term per sample over all view interactions (see
    :func:`contrastor.functional.mv_info_nce`). Koromilas et al., 2025.

    Inputs: V >= 2 views, ``(n, d)`` each.
    Positives: every other view of the sample, all view pairs in one term per sample.
    Settings: temperature 0.1-0.2.
    Related: :class:`MVDHEL`, :class:`NTXent` (pairwise terms).

    Example:
        >>> loss = MVInfoNCE(temperature=0.2)(v1, v2, v3)
    """

    function = staticmethod(mv_info_nce)


@register(
    LossSpec(
        name="mv_dhel",
        title="MV-DHEL",
        inputs="V >= 2 views",
        positives="all view pairs; uniformity within each view",
        paper="Koromilas et al. 2025, A Principled Framework for Multi-View Contrastive Learning",
        tiled=True,
        function=mv_dhel,
    ),
)
class MVDHEL(_ViewsLoss):
    """MV-DHEL, multi-view decoupled hyperspherical energy (see
    :func:`contrastor.functional.mv_dhel`). Koromilas et al., 2025.

    Inputs: V >= 2 views, ``(n, d)`` each.
    Positives: every other view of the sample; uniformity is enforced within each view
    (decoupled from the alignment).
    Settings: temperature 0.1-0.2.
    Related: :class:`MVInfoNCE`, :class:`DCL`.

    Example:
        >>> loss = MVDHEL(temperature=0.2)(v1, v2, v3, v4)
    """

    function = staticmethod(mv_dhel)
