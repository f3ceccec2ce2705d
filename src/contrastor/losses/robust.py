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
        positives="index-aligned or labelled; hard positives down-weighted by e^(q s+/tau), "
        "q tied to the temperature (q/tau = 1, the authors' bound) unless given",
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
    Settings: ``q`` in (0, 1], by default the temperature (``q / tau = 1``; the authors'
    settings keep ``q / tau <= 1``: larger ratios drop nearly every hard positive), ``lam``
    0.01, temperature 0.1.
    Related: :class:`InfoNCE` (``q -> 0``), :class:`CLIPLoss`.

    Example:
        >>> loss = RINCE(0.1, lam=0.01)(img_emb, txt_emb)  # q = 0.1
    """

    function = staticmethod(rince)
    defaults: ClassVar[dict[str, Any]] = {"q": None, "lam": 0.01, "symmetric": True}
