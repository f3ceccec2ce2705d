"""Modules for losses over structured targets: label hierarchies, subclass-balancing (SBCL),
whitening-based contrast, and regression (SupReMix, ConR)."""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from contrastor._validation import check_same_length
from contrastor.engine.output import ContrastiveOutput
from contrastor.functional.hierarchy import (
    hierarchical_supcon,
    multilevel_supcon,
    sbcl,
    subclass_labels,
)
from contrastor.functional.multihead import amcl
from contrastor.functional.regression import conr, supremix
from contrastor.functional.supcon import Views
from contrastor.functional.whitening import whitened_contrastive
from contrastor.losses.base import DeclaredLoss, TemperatureLoss
from contrastor.losses.registry import LOCAL_GATHERED, LossSpec, Task, register
from contrastor.losses.supcon import _ViewsLoss
from contrastor.state.per_sample import PerSampleState

__all__ = [
    "AMCL",
    "SBCL",
    "ConR",
    "HierarchicalSupCon",
    "MultilevelSupCon",
    "SupReMix",
    "WhitenedContrastive",
]


def _whitened_options(task: Task) -> dict[str, Any]:
    return {**task.tempered(), "groups": task.heads()}


def _sbcl_options(task: Task) -> dict[str, Any]:
    size = task.dataset_size
    return {**task.tempered(), "dataset_size": size, "subclass_size": max(10, size // 40)}


def _amcl_options(task: Task) -> dict[str, Any]:
    return {"dim": task.embedding_dim // task.heads(), "heads": task.heads()}


@register(
    LossSpec(
        name="hierarchical_supcon",
        title="Hierarchy-aware SupCon",
        inputs="views + ancestor path per sample",
        positives="graded by the depth of the deepest shared ancestor",
        paper="Cai et al. 2022, Hierarchical Pretraining for Biomedical Term Embeddings",
        tiled=True,
        ddp="single process (sample-level targets)",
        feed=None,
        unfit="needs a label hierarchy (an ancestor path per sample)",
        function=hierarchical_supcon,
    ),
)
class HierarchicalSupCon(TemperatureLoss):
    """SupCon with positives graded by a label hierarchy (see
    :func:`contrastor.functional.hierarchical_supcon`).

    Inputs: ``features`` ``(n, V, d)`` or a list of views, and ``paths``
    ``(n, levels)`` integer ids of each sample's ancestors, top level first.
    Positives: graded by the share of the hierarchy two samples have in common from the
    root down; samples with nothing in common are negatives.
    Settings: temperature 0.1.
    Related: :class:`SupCon` (one level).

    Example:
        >>> loss = HierarchicalSupCon(0.1)(z, paths)   # paths: (n, levels) ids, top first
    """

    function = staticmethod(hierarchical_supcon)


@register(
    LossSpec(
        name="multilevel_supcon",
        title="SupCon over nested grouping levels (COMET)",
        inputs="views + a group id per level and sample",
        positives="samples sharing the group at each level, each level weighted",
        paper=(
            "Wang et al. 2023, Contrast Everything: A Hierarchical Contrastive Framework for "
            "Medical Time-Series"
        ),
        tiled=True,
        feed=None,
        unfit="needs group ids at several levels (sample, trial, patient)",
        function=multilevel_supcon,
    ),
)
class MultilevelSupCon(TemperatureLoss):
    """SupCon summed over grouping levels (see
    :func:`contrastor.functional.multilevel_supcon`). Wang et al., NeurIPS 2023.

    Inputs: ``features`` ``(n, V, d)`` or a list of views, and ``levels`` ``(n, L)`` group
    ids (e.g. recording, trial, patient).
    Positives: at each level, the other views of samples in the same group.
    Settings: temperature 0.1; ``level_weights`` (default equal).
    Related: :class:`HierarchicalSupCon` (graded positives from one hierarchy).

    Example:
        >>> loss = MultilevelSupCon(level_weights=(0.5, 0.3, 0.2))(z, levels)
    """

    function = staticmethod(multilevel_supcon)
    defaults: ClassVar[dict[str, Any]] = {"level_weights": None}


@register(
    LossSpec(
        name="whitened_contrastive",
        title="WhitenedCSE (shuffled group whitening)",
        inputs="V >= 2 views",
        positives="all whitened views of the sample",
        paper=(
            "Zhuo et al. 2023, WhitenedCSE: Whitening-based Contrastive Learning of Sentence "
            "Embeddings"
        ),
        tiled=True,
        ddp=LOCAL_GATHERED + " (whitening statistics per rank)",
        options=_whitened_options,
        aliases=("whitened",),
        function=whitened_contrastive,
    ),
)
class WhitenedContrastive(_ViewsLoss):
    """WhitenedCSE: NT-Xent over views whitened by shuffled group whitening (see
    :func:`contrastor.functional.whitened_contrastive`). Zhuo et al., ACL 2023.

    Inputs: V >= 2 views, ``(n, d)`` each, ``d`` a multiple of ``groups``.
    Positives: all whitened views of the sample.
    Settings: temperature 0.05 as SimCSE (default 0.1), ``groups`` that divide ``d``.
    Related: :class:`NTXent`, :class:`MVInfoNCE`.

    Example:
        >>> loss = WhitenedContrastive(0.05, groups=4)(z1, z2, z3)
    """

    function = staticmethod(whitened_contrastive)
    defaults: ClassVar[dict[str, Any]] = {"groups": 1}


@register(
    LossSpec(
        name="sbcl",
        title="Subclass-balancing contrastive (SBCL)",
        inputs="views + class ids + dataset indices",
        positives="own subclass; then same class, other subclass",
        paper=(
            "Hou et al. 2023, Subclass-balancing Contrastive Learning for Long-tailed Recognition"
        ),
        tiled=True,
        state="subclass id per sample (re-clustered each epoch)",
        supervised=True,
        feed="labelled_indexed",
        options=_sbcl_options,
        function=sbcl,
    ),
)
class SBCL(TemperatureLoss):
    """Subclass-balancing contrastive learning (see :func:`contrastor.functional.sbcl`): keeps
    every training sample's subclass id in ``state.subclass`` (saved in ``state_dict``) and
    re-clusters with :meth:`recluster` (every few epochs, on the current embeddings).
    Before the first clustering, each class is one subclass. Hou et al., ICCV 2023.

    Inputs: ``features`` ``(n, V, d)`` or a list of views, ``labels`` ``(n,)`` and
    ``index`` ``(n,)`` (call time), the samples' dataset positions.
    Positives: the anchor's own subclass (SupCon on subclass ids); a second term, weighted
    ``class_weight``, pulls it to the other subclasses of its class more than to other
    classes.
    Settings: temperature 0.1, ``class_temperature`` 0.2; ``subclass_size`` near the size of
    the tail classes.
    Related: :class:`SupCon` (no subclasses).

    Example:
        >>> loss_fn = SBCL(len(dataset), subclass_size=50, temperature=0.1)
        >>> loss_fn.recluster(all_embeddings, all_labels)        # at epoch start
        >>> loss = loss_fn(z, labels, index=batch_indices)
    """

    defaults: ClassVar[dict[str, Any]] = {"class_temperature": 0.2, "class_weight": 1.0}

    def __init__(
        self, dataset_size: int, temperature: float = 0.1, *, subclass_size: int = 100, **kwargs
    ) -> None:
        super().__init__(temperature, **kwargs)
        if subclass_size < 1:
            raise ValueError(f"subclass_size must be positive, got {subclass_size}")
        self.subclass_size = subclass_size
        self.state = PerSampleState(dataset_size, dtype=torch.long, subclass=())
        self.state.fill("subclass", -1)

    @torch.no_grad()
    def recluster(self, features: Tensor, labels: Tensor, seed: int = 0) -> None:
        """Cluster every class of the whole training set (``features`` and ``labels`` of all
        ``dataset_size`` samples, in index order) into subclasses."""
        if features.shape[0] != self.state.size:
            raise ValueError(f"recluster takes all {self.state.size} samples")
        generator = torch.Generator().manual_seed(seed)
        ids = subclass_labels(features, labels, self.subclass_size, generator=generator)
        self.state.subclass.copy_(ids.to(self.state.subclass.device))

    def forward(
        self,
        features: Views,
        labels: Tensor,
        *,
        index: Tensor,
        weights: Tensor | None = None,
        return_output: bool = False,
    ) -> Tensor | ContrastiveOutput:
        check_same_length(labels, index, ("labels", "index"))
        sub = self.state.read("subclass", index).to(labels.device)
        sub = torch.where(sub < 0, labels.long(), sub)  # not clustered yet: one per class
        return sbcl(
            features,
            labels,
            sub,
            temperature=self.temperature.argument(),
            weights=weights,
            reduction=self.reduction,
            return_output=return_output,
            **self.options(),
            **self.run_options(),
        )


@register(
    LossSpec(
        name="supremix",
        title="SupReMix (regression, mixup pairs)",
        inputs="views + continuous targets",
        positives="equal target; anchor-exclusive mixtures; distance-weighted negatives",
        paper="Wu et al. 2023, Mixup Your Own Pairs",
        tiled=False,
        ddp="single process",
        feed=None,
        unfit="needs continuous (regression) targets",
        function=supremix,
    ),
)
class SupReMix(TemperatureLoss):
    """Supervised contrastive regression with mixup pairs (see
    :func:`contrastor.functional.supremix`). Wu et al., 2023.

    Inputs: ``features`` ``(n, V, d)`` or a list of views, and continuous ``targets``
    ``(n,)``.
    Positives: samples with an equal target, plus anchor-exclusive mixtures; negatives are
    weighted by their target distance.
    Settings: temperature 0.1; ``negatives`` and ``positives`` mixtures per anchor (4 each).
    Related: :class:`ConR`, :class:`SupCon`.

    Example:
        >>> loss = SupReMix(0.1, negatives=4, positives=4)(torch.stack([z1, z2], 1), y)
    """

    function = staticmethod(supremix)
    defaults: ClassVar[dict[str, Any]] = {
        "negatives": 4,
        "positives": 4,
        "distance_weighting": True,
    }


@register(
    LossSpec(
        name="conr",
        title="ConR (imbalanced regression regularizer)",
        inputs="features + continuous targets + predictions",
        positives="label-close samples; negatives are label-far but prediction-close",
        paper="Keramati et al. 2024, ConR: Contrastive Regularizer for Deep Imbalanced Regression",
        tiled=False,
        ddp="single process",
        feed=None,
        unfit="a regularizer for regression models (needs targets and predictions)",
        function=conr,
    ),
)
class ConR(TemperatureLoss):
    """ConR regularizer for imbalanced regression (see :func:`contrastor.functional.conr`).

    Inputs: ``features`` ``(n, d)``, continuous ``targets`` and the model's ``predictions``
    ``(n,)`` or ``(n, k)``; ``push_weights`` ``(n,)`` at call time (e.g. inverse label
    density). Add ``weight * ConR()(features, y, predictions)`` to the regression loss.
    Positives: the samples whose targets lie within ``threshold`` of the anchor's; negatives
    those beyond it whose predictions lie within it (the wrongly close ones), pushed harder
    the farther their targets and the rarer the anchor.
    Settings: ``threshold`` (omega, in target units), ``pushing`` (eta) 0.01, temperature
    0.07.
    Related: :class:`SupReMix`. Keramati et al., ICLR 2024.

    Example:
        >>> loss = mse(pred, y) + 0.2 * ConR(threshold=1.0)(features, y, pred)
    """

    function = staticmethod(conr)
    defaults: ClassVar[dict[str, Any]] = {"threshold": 1.0, "pushing": 0.01}
    settings: ClassVar[dict[str, Any]] = {"temperature": 0.07}


@register(
    LossSpec(
        name="amcl",
        title="Adaptive multi-head contrastive (AMCL)",
        inputs="2 views, H projection heads",
        positives="the other view; every pair with its own learned temperature",
        paper="Wang et al. 2024, Adaptive Multi-head Contrastive Learning",
        tiled=False,
        ddp="single process",
        state="temperature network phi",
        per_sample=False,
        views=(2, 2),
        feed="pair",
        options=_amcl_options,
        function=amcl,
    ),
)
class AMCL(DeclaredLoss):
    """Adaptive multi-head contrastive learning (see :func:`contrastor.functional.amcl`) with
    its temperature network ``phi`` (an MLP ``d -> d``, trained with the model and saved in
    ``state_dict``).

    Inputs: two views, ``(n, H, d)`` head outputs or ``(n, H * d)`` projections that are
    split into ``heads`` heads of width ``dim``.
    Positives: the other view of the sample; every pair gets its own temperature in
    ``temperature_range``.
    Settings: ``beta`` 0.01, ``topk`` negatives per anchor 100, ``temperature_range``.
    Related: :class:`NTXent` (one head, one temperature). Wang et al., ECCV 2024.

    Example:
        >>> loss = AMCL(dim=16, heads=4)(z1, z2)      # z1, z2: (n, 64)
    """

    function = staticmethod(amcl)
    defaults: ClassVar[dict[str, Any]] = {
        "beta": 0.01,
        "temperature_range": (1e-5, 2.0),
        "topk": 100,
    }

    def __init__(self, dim: int, heads: int = 3, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if dim < 1 or heads < 1:
            raise ValueError(f"AMCL needs dim >= 1 and heads >= 1, got {dim} and {heads}")
        self.dim, self.heads = dim, heads
        self.phi = nn.Sequential(nn.Linear(dim, dim), nn.ReLU(), nn.Linear(dim, dim))

    def _heads(self, z: Tensor) -> Tensor:
        if z.ndim != 2:
            return z
        if z.shape[1] != self.heads * self.dim:
            raise ValueError(
                f"AMCL(dim={self.dim}, heads={self.heads}) splits (n, {self.heads * self.dim}) "
                f"projections into heads, got shape {tuple(z.shape)}"
            )
        return z.reshape(z.shape[0], self.heads, self.dim)

    def forward(self, view_a: Tensor, view_b: Tensor, **keywords: Any) -> Tensor:
        return super().forward(self._heads(view_a), self._heads(view_b), self.phi, **keywords)
