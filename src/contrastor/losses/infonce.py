"""InfoNCE and CLIP loss modules."""

from __future__ import annotations

from typing import Any, ClassVar

from contrastor.functional.infonce import info_nce
from contrastor.losses.base import TemperatureLoss
from contrastor.losses.registry import LossSpec, register

__all__ = ["CLIPLoss", "InfoNCE"]

#: the softmax adjustments a module holds as options (:mod:`contrastor.engine.adjust`)
ADJUSTMENTS: dict[str, Any] = {
    "margin": None,
    "top_k_negatives": None,
    "positive_mode": "out",
    "label_smoothing": 0.0,
}


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
    averages both directions (CLIP). DDP: local queries vs gathered references.
    Oord et al., "Representation Learning with Contrastive Predictive Coding", 2018.

    Inputs: ``query`` ``(n, d)`` and ``reference`` ``(m, d)``, ``m >= n``; at call time
    ``labels``/``reference_labels``, multi-hot labels, soft ``targets`` and
    ``anchor_negatives`` ``(n, k, d)`` (e.g. mined hard negatives per query).
    Positives: the index-aligned reference by default; else equal labels, shared labels or
    the soft targets' weights.
    Settings: temperature 0.07 (0.02-0.05 for text retrieval); ``symmetric`` for two
    modalities. Adjustments (:mod:`contrastor.engine.adjust`): ``margin`` on positives,
    ``top_k_negatives``, ``positive_mode="in"``, ``label_smoothing``, and per call
    ``negative_weights`` (e.g. :class:`~contrastor.engine.ClusterWeights`).
    Related: :class:`CLIPLoss`, :class:`SigLIP`, :class:`RINCE` (noisy pairs),
    :class:`MoCo` (a queue of negatives).

    Example:
        >>> loss_fn = InfoNCE(temperature=0.07, symmetric=True, learnable_temperature=True)
        >>> loss = loss_fn(image_emb, text_emb)          # (n, d), (n, d)
        >>> per_pair = InfoNCE(reduction="none")(q, r)   # (n,)
    """

    function = staticmethod(info_nce)
    defaults: ClassVar[dict[str, Any]] = {"symmetric": False, "decoupled": False, **ADJUSTMENTS}
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

    Inputs: two ``(n, d)`` batches of paired embeddings (images and captions, code and
    text).
    Positives: the index-aligned pair; both directions are averaged.
    Settings: learnable temperature, init 0.07 and floor 0.01 (the paper's); the largest
    batch memory allows (the tiled path and ``gather_distributed``); ``label_smoothing``
    (e.g. 0.1) is part of the improved recipe of Fini et al., "Improved baselines for
    vision-language pre-training", TMLR 2023.
    Related: :class:`SigLIP` (pairwise sigmoid), :class:`InfoNCE`, :class:`CWCL`.

    Example:
        >>> loss = CLIPLoss()(image_emb, text_emb)
    """

    defaults: ClassVar[dict[str, Any]] = {"symmetric": True, "decoupled": False, **ADJUSTMENTS}
    settings: ClassVar[dict[str, Any]] = {"temperature": 0.07, "learnable_temperature": True}
