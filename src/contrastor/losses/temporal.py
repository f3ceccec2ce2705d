"""Modules for contrast along time: TS2Vec's hierarchical loss."""

from __future__ import annotations

from typing import Any, ClassVar

from contrastor.functional.temporal import hierarchical_contrastive
from contrastor.losses.base import TemperatureLoss
from contrastor.losses.registry import LossSpec, register

__all__ = ["HierarchicalContrastive"]


@register(
    LossSpec(
        name="hierarchical_contrastive",
        title="Hierarchical contrastive (TS2Vec)",
        inputs="two views' per-timestamp representations (n, T, d) of the same timestamps",
        positives="the same timestamp of the same series in the other view, at every scale",
        paper="Yue et al. 2022, TS2Vec: Towards Universal Representation of Time Series",
        tiled=False,
        ddp="local series",
        feed=None,
        unfit="needs per-timestamp representations of two overlapping crops of a series",
        function=hierarchical_contrastive,
    ),
)
class HierarchicalContrastive(TemperatureLoss):
    """TS2Vec's hierarchical contrastive loss (see
    :func:`contrastor.functional.hierarchical_contrastive`).

    Inputs: ``first``, ``second`` ``(n, T, d)``: an encoder's outputs on the common
    timestamps of two views of each series (TS2Vec: the overlap of two random crops, with
    random timestamp masking inside the encoder).
    Positives: the same timestamp of the same series in the other view; negatives are the
    other series at that timestamp (instance term) and the series' other timestamps
    (temporal term), at every scale of a max-pooling pyramid over time.
    Settings: TS2Vec's dot product without temperature (the defaults), ``alpha`` 0.5 between
    the instance and temporal terms, ``temporal_unit`` 0.
    Related: :class:`NTXent` (one vector per sample), :class:`InfoNCE`.

    Example:
        >>> loss = HierarchicalContrastive()(r1[:, -overlap:], r2[:, :overlap])
    """

    function = staticmethod(hierarchical_contrastive)
    defaults: ClassVar[dict[str, Any]] = {"alpha": 0.5, "temporal_unit": 0}
    settings: ClassVar[dict[str, Any]] = {"temperature": 1.0, "similarity": "dot"}
