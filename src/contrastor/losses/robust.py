"""Noise-robust loss modules: RINCE and InfoNCE with soft re-targeting."""

from __future__ import annotations

from typing import Any, ClassVar

from contrastor.functional.robust import rince
from contrastor.losses.base import TemperatureLoss
from contrastor.losses.registry import LossSpec, register

__all__ = ["RINCE"]


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

    Inputs: ``query`` ``(n, d)``, ``reference`` ``(m, d)``; optional ``labels`` or
    ``targets`` (call time).
    Positives: index-aligned or labelled, as :class:`InfoNCE`; hard positives (likely
    mismatched pairs) are down-weighted.
    Settings: ``q`` in (0, 1] (larger: more robust to noisy pairs, 0.5 a common choice),
    ``lam`` 0.01, temperature 0.1.
    Related: :class:`InfoNCE` (``q -> 0``), :class:`CLIPLoss`.

    Example:
        >>> loss = RINCE(0.1, q=0.5, lam=0.01)(img_emb, txt_emb)
    """

    function = staticmethod(rince)
    defaults: ClassVar[dict[str, Any]] = {"q": 0.5, "lam": 0.01, "symmetric": True}
