"""Modules for cross-modal losses: CWCL, CLIP with contrastive-gap terms, Symile and 1-to-K."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from contrastor.engine.output import ContrastiveOutput
from contrastor.functional.crossmodal import contrastive_gap, cwcl, one_to_k, symile
from contrastor.losses.base import TemperatureLoss
from contrastor.losses.registry import LossSpec, Task, register

__all__ = ["CWCL", "ContrastiveGap", "OneToK", "Symile"]


def _symile_options(task: Task) -> dict[str, Any]:
    return {**task.tempered(), "modalities": task.views, "dim": task.embedding_dim}


@register(
    LossSpec(
        name="cwcl",
        title="Continuously weighted contrastive",
        inputs="trainable and frozen-modality embeddings of pairs",
        positives="every pair, weighted (1 + cos) / 2 in the frozen modality",
        paper=(
            "Srinivasa et al. 2023, CWCL: Cross-Modal Transfer with Continuously Weighted "
            "Contrastive Loss"
        ),
        tiled=True,
        ddp="one direction: local queries vs gathered references and guides",
        views=(2, 2),
        feed=None,
        unfit="needs a frozen, pretrained second modality to weight the targets",
        function=cwcl,
    ),
)
class CWCL(TemperatureLoss):
    """Continuously weighted contrastive loss (see :func:`contrastor.functional.cwcl`).
    Srinivasa et al., NeurIPS 2023.

    Inputs: ``query`` ``(n, d)`` from the modality being trained and ``reference`` ``(n, d)``
    from it or a paired one; ``guide`` ``(n, d')`` (call time), embeddings of the pairs in a
    frozen, pretrained modality that set the weights.
    Positives: every pair, weighted ``(1 + cos) / 2`` by the guide's similarity, so near
    duplicates in the guide are not pushed apart.
    Settings: temperature (default 0.1); ``symmetric`` (both directions, default).
    Related: :class:`CLIPLoss` (index-aligned positives only), :class:`InfoNCE` with soft
    targets.

    Example:
        >>> loss = CWCL(0.05)(trainable_emb, frozen_emb)
    """

    function = staticmethod(cwcl)
    defaults: ClassVar[dict[str, Any]] = {"symmetric": True}


@register(
    LossSpec(
        name="contrastive_gap",
        title="CLIP + contrastive-gap terms",
        inputs="paired embeddings of two modalities",
        positives="index-aligned pair; plus alignment and joint uniformity",
        paper=(
            "Fahim et al. 2024, It's Not a Modality Gap: Characterizing and Addressing the "
            "Contrastive Gap"
        ),
        tiled=True,
        ddp="CLIP and uniformity over the gathered batch",
        state="learnable temperature",
        per_sample=False,
        views=(2, 2),
        feed="pair",
        aliases=("clip_gap",),
        function=contrastive_gap,
    ),
)
class ContrastiveGap(TemperatureLoss):
    """CLIP loss plus alignment and uniformity terms (see
    :func:`contrastor.functional.contrastive_gap`). Fahim et al., 2024.

    Inputs: two ``(n, d)`` batches of paired embeddings of two modalities.
    Positives: the index-aligned pair, as CLIP; the alignment term pulls each pair together
    and the uniformity term spreads both modalities over the sphere jointly.
    Settings: temperature (default 0.1, or learnable as CLIP's); ``alignment_weight`` and
    ``uniformity_weight`` (1 each).
    Related: :class:`CLIPLoss`, :class:`AlignUniform`.

    Example:
        >>> loss = ContrastiveGap(0.07, learnable_temperature=True)(image_emb, text_emb)
    """

    function = staticmethod(contrastive_gap)
    defaults: ClassVar[dict[str, Any]] = {
        "uniformity_weight": 1.0,
        "alignment_weight": 1.0,
        "joint_uniformity": True,
    }


@register(
    LossSpec(
        name="symile",
        title="Symile",
        inputs="3 or more modalities (+ presence mask)",
        positives="the sample's own target-modality embedding under the multilinear product",
        paper=(
            "Saporta et al. 2024, Contrasting with Symile: Simple Model-Agnostic Representation "
            "Learning for Unlimited Modalities"
        ),
        tiled=True,
        state="learned missing-modality embeddings",
        views=(3, None),
        options=_symile_options,
        function=symile,
    ),
)
class Symile(TemperatureLoss):
    """Symile over three or more modalities (see :func:`contrastor.functional.symile`), with
    one learned embedding per modality standing in for missing data.

    Inputs: three or more ``(n, d)`` batches, one per modality, the same samples in the
    same rows; ``present`` ``(n, M)`` bool (call time) marks missing modalities.
    Positives: a sample's own embedding of the target modality, scored by the multilinear
    inner product with its other modalities; the other samples' are the negatives.
    Settings: temperature 0.07; ``modalities`` and ``dim`` size the missing-data embeddings.
    Related: :class:`CLIPLoss` (two modalities, or pairwise sums of it).

    Example:
        >>> loss_fn = Symile(modalities=3, dim=64)
        >>> loss = loss_fn(image_emb, text_emb, audio_emb, present=mask)
    """

    def __init__(self, temperature: float = 0.07, *, modalities: int = 3, dim: int, **kwargs):
        super().__init__(temperature, **kwargs)
        self.missing = nn.Parameter(torch.randn(modalities, dim) / dim**0.5)

    def forward(
        self,
        *modalities: Tensor | Sequence[Tensor],
        present: Tensor | None = None,
        weights: Tensor | None = None,
        return_output: bool = False,
    ) -> Tensor | ContrastiveOutput:
        xs = list(modalities[0]) if len(modalities) == 1 else list(modalities)
        return symile(
            xs,
            temperature=self.temperature.argument(),
            present=present,
            missing=self.missing if present is not None else None,
            weights=weights,
            reduction=self.reduction,
            return_output=return_output,
            **self.run_options(),
        )


@register(
    LossSpec(
        name="one_to_k",
        title="1-to-K contrastive",
        inputs="items (n, d) and K texts of each (n, K, d), e.g. captions in K languages",
        positives="an item's K texts at once; a text's item",
        paper=(
            "Nie et al. 2024, Improving the Consistency in Cross-Lingual Cross-Modal Retrieval "
            "with 1-to-K Contrastive Learning"
        ),
        tiled=True,
        ddp="both directions: local anchors vs gathered items and texts",
        views=(2, 2),
        feed=None,
        unfit="needs K texts (languages) per item",
        function=one_to_k,
    ),
)
class OneToK(TemperatureLoss):
    """1-to-K contrastive loss (see :func:`contrastor.functional.one_to_k`). Nie et al., KDD
    2024.

    Inputs: ``items`` ``(n, d)`` (images) and ``texts`` ``(n, K, d)``, the K texts of each
    item (captions in K languages).
    Positives: every one of an item's K texts at once (no language is a pivot), and a
    text's item.
    Settings: temperature 0.07; ``positive_mode`` ``out`` (the authors' code) or ``in``.
    Evaluate the cross-language consistency with :func:`contrastor.eval.mean_rank_variance`.
    Related: :class:`CLIPLoss` (one text per item), :class:`SupCon` (labels as positives).

    Example:
        >>> loss = OneToK()(image_emb, caption_emb)   # (n, d), (n, K, d)
    """

    function = staticmethod(one_to_k)
    defaults: ClassVar[dict[str, Any]] = {"positive_mode": "out"}
    settings: ClassVar[dict[str, Any]] = {"temperature": 0.07}
