"""InfoNCE and CLIP loss modules."""

from __future__ import annotations

from typing import Any, ClassVar

from contrastor.functional.infonce import info_nce
from contrastor.losses.base import TemperatureLoss
from contrastor.losses.registry import LossSpec, register


@register(
    LossSpec(
        name="info_nce",
        title="InfoNCE",
        inputs="queries, references (+ queue, labels, soft targets)",
        positives="index-aligned, equal labels or soft",
        paper="Oord et al. 2018, Representation Learning with Contrastive Predictive Coding",
        tiled=True,
        views=(2, 2),
        feed="pair",
        function=info_nce,
    ),
)
class InfoNCE(TemperatureLoss):
    """InfoNCE between queries and references (see :func:`contrastor.functional.info_nce`).

    ``L_i = -log( exp(s(q_i, r_i)/tau) / sum_j exp(s(q_i, r_j)/tau) )``; ``symmetric=True``
    averages both directions (CLIP). Positives: index-aligned by default, or equal labels,
    multi-hot overlap, soft targets. DDP: local queries vs gathered references.
    Oord et al., "Representation Learning with Contrastive Predictive Coding", 2018.

    Example:
        >>> loss_fn = InfoNCE(temperature=0.07, symmetric=True, learnable_temperature=True)
        >>> loss = loss_fn(image_emb, text_emb)          # (n, d), (n, d)
        >>> per_pair = InfoNCE(reduction="none")(q, r)   # (n,)
    """

    function = staticmethod(info_nce)
    defaults: ClassVar[dict[str, Any]] = {"symmetric": False, "decoupled": False}
    settings: ClassVar[dict[str, Any]] = {"temperature": 0.07}


@register(
    LossSpec(
        name="clip",
        title="CLIP (symmetric InfoNCE)",
        inputs="paired embeddings of two modalities",
        positives="index-aligned pair",
        paper=(
            "Radford et al. 2021, Learning Transferable Visual Models From Natural Language "
            "Supervision"
        ),
        tiled=True,
        state="learnable temperature",
        views=(2, 2),
        feed="pair",
        function=info_nce,
    ),
)
class CLIPLoss(InfoNCE):
    """CLIP's symmetric InfoNCE with a learnable temperature (init 0.07, kept >= 0.01, i.e.
    logit scale <= 100). Radford et al., "Learning Transferable Visual Models From Natural
    Language Supervision", ICML 2021.

    Example:
        >>> loss = CLIPLoss()(image_emb, text_emb)
    """

    defaults: ClassVar[dict[str, Any]] = {"symmetric": True, "decoupled": False}
    settings: ClassVar[dict[str, Any]] = {"temperature": 0.07, "learnable_temperature": True}
