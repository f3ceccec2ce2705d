"""Modules for objectives over several modalities: pairwise CLIP, anchor alignment, mixup
contrast and shared/unique decomposition."""

from __future__ import annotations

from typing import Any, ClassVar

from torch import Tensor

from contrastor.functional.multimodal import (
    anchor_alignment,
    mixup_contrastive,
    orthogonal_shared_unique,
    pairwise_clip,
)
from contrastor.losses.base import TemperatureLoss
from contrastor.losses.registry import LossSpec, register

__all__ = ["AnchorAlignment", "MixupContrastive", "OrthogonalSharedUnique", "PairwiseCLIP"]

_SHARED_SPACE = (
    "2024, MoRE: Multi-Modal Contrastive Pre-training with Transformers on X-Rays, ECGs, and "
    "Diagnostic Report"
)


@register(
    LossSpec(
        name="pairwise_clip",
        title="Pairwise CLIP over M modalities",
        inputs="M >= 2 modalities (or views) of the same samples",
        positives="the same sample in every other modality",
        paper=_SHARED_SPACE,
        tiled=True,
        views=(2, None),
        feed="views",
        function=pairwise_clip,
    ),
)
class PairwiseCLIP(TemperatureLoss):
    """CLIP averaged over every pair of modalities (see
    :func:`contrastor.functional.pairwise_clip`).

    Inputs: M >= 2 ``(n, d)`` batches, one per modality, the same samples in the same rows.
    Positives: the sample's embedding in the other modality of each pair.
    Settings: temperature 0.07 (learnable with ``learnable_temperature=True``).
    Related: :class:`Symile` (one higher-order term instead of pairs), :class:`CLIPLoss`.

    Example:
        >>> loss = PairwiseCLIP()(image_emb, text_emb, audio_emb)
    """

    function = staticmethod(pairwise_clip)
    settings: ClassVar[dict[str, Any]] = {"temperature": 0.07}

    def forward(self, *modalities: Tensor, **keywords: Any) -> Tensor:
        items = list(modalities[0]) if len(modalities) == 1 else list(modalities)
        return super().forward(items, **keywords)


@register(
    LossSpec(
        name="anchor_alignment",
        title="Anchor-view alignment",
        inputs="an anchor view and M >= 1 other views of the same samples",
        positives="the sample's anchor embedding for each view",
        paper=(
            "2024, A multi-view contrastive learning framework for spatial embeddings in risk "
            "modelling; Semantic Item Graph Enhancement for Multimodal Recommendation"
        ),
        tiled=True,
        views=(2, None),
        feed=None,
        unfit="needs a designated anchor modality",
        function=anchor_alignment,
    ),
)
class AnchorAlignment(TemperatureLoss):
    """Views aligned with one anchor view by InfoNCE (see
    :func:`contrastor.functional.anchor_alignment`).

    Inputs: ``anchor`` ``(n, d)`` and the other views ``(n, d)`` each.
    Positives: the sample's anchor embedding.
    Settings: temperature 0.07; ``detach_anchor`` (the views move to a fixed anchor);
    ``symmetric``.
    Related: :class:`PairwiseCLIP` (every pair, no anchor).

    Example:
        >>> loss = AnchorAlignment()(location_emb, satellite_emb, map_emb)
    """

    function = staticmethod(anchor_alignment)
    defaults: ClassVar[dict[str, Any]] = {"detach_anchor": False, "symmetric": True}
    settings: ClassVar[dict[str, Any]] = {"temperature": 0.07}

    def forward(self, anchor: Tensor, *views: Tensor, **keywords: Any) -> Tensor:
        return super().forward(anchor, list(views), **keywords)


@register(
    LossSpec(
        name="mixup_contrastive",
        title="Multimodal mixup contrastive (M3CoL)",
        inputs="embeddings of mixed inputs of one modality, the other modality, the mixing",
        positives="both mixed partners, weighted lam and 1 - lam",
        paper=(
            "Kumar et al. 2024, Harnessing Shared Relations via Multimodal Mixup Contrastive "
            "Learning for Multimodal Classification"
        ),
        tiled=True,
        ddp="single process (the soft targets are batch-local)",
        views=(2, 2),
        feed=None,
        unfit="needs inputs mixed before the encoder",
        function=mixup_contrastive,
    ),
)
class MixupContrastive(TemperatureLoss):
    """Contrast of mixed inputs with the other modality under soft targets (see
    :func:`contrastor.functional.mixup_contrastive`).

    Inputs: ``mixed`` ``(n, d)`` (embeddings of ``lam x + (1 - lam) x[perm]``), ``other``
    ``(n, d)``, ``permutation`` ``(n,)`` and ``lam``.
    Positives: sample ``i`` with weight ``lam`` and ``perm[i]`` with ``1 - lam``.
    Settings: temperature 0.1; ``symmetric``.
    Related: :class:`CLIPLoss`, :class:`SupReMix` (mixup for regression).

    Example:
        >>> loss = MixupContrastive()(mixed_emb, text_emb, perm, 0.7)
    """

    function = staticmethod(mixup_contrastive)
    defaults: ClassVar[dict[str, Any]] = {"symmetric": True}


@register(
    LossSpec(
        name="orthogonal_shared_unique",
        title="Shared/unique decomposition with orthogonality",
        inputs="shared and unique parts of M >= 2 modalities",
        positives="the sample's shared part in every other modality",
        paper=(
            "2024, Refining Contrastive Learning and Homography Relations for Multi-Modal "
            "Recommendation"
        ),
        tiled=False,
        ddp="single process",
        per_sample=False,
        views=(2, None),
        feed=None,
        unfit="needs shared and unique projections of each modality",
        function=orthogonal_shared_unique,
    ),
)
class OrthogonalSharedUnique(TemperatureLoss):
    """Pairwise CLIP on the shared parts plus orthogonality of each modality's unique part
    to its shared part (see :func:`contrastor.functional.orthogonal_shared_unique`).

    Inputs: ``shared`` and ``unique``, lists of M ``(n, d)`` batches.
    Positives: the sample's shared part in the other modalities.
    Settings: temperature 0.07, ``orthogonality_weight`` 1.
    Related: :class:`PairwiseCLIP`.

    Example:
        >>> loss = OrthogonalSharedUnique()([s_img, s_txt], [u_img, u_txt])
    """

    function = staticmethod(orthogonal_shared_unique)
    defaults: ClassVar[dict[str, Any]] = {"orthogonality_weight": 1.0}
    settings: ClassVar[dict[str, Any]] = {"temperature": 0.07}
