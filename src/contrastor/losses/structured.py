"""Modules for losses over structured targets: label hierarchies, subclass-balancing (SBCL),
whitening-based contrast, and regression (SupReMix, ConR)."""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from contrastor._validation import check_same_length
from contrastor.engine.output import ContrastiveOutput
from contrastor.functional.hierarchy import hierarchical_supcon, sbcl, subclass_labels
from contrastor.functional.multihead import amcl
from contrastor.functional.regression import conr, supremix
from contrastor.functional.supcon import Views
from contrastor.functional.whitening import whitened_contrastive
from contrastor.losses.base import TemperatureLoss
from contrastor.losses.registry import LOCAL_GATHERED, LossSpec, Task, register
from contrastor.losses.supcon import _ViewsLoss
from contrastor.state.per_sample import PerSampleState


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

    Example:
        >>> loss = HierarchicalSupCon(0.1)(z, paths)   # paths: (n, levels) ids, top first
    """

    function = staticmethod(hierarchical_supcon)


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
class ConR(nn.Module):
    """ConR regularizer for imbalanced regression (see :func:`contrastor.functional.conr`);
    add ``weight * ConR()(features, y, predictions)`` to the regression loss. Keramati et al.,
    ICLR 2024.

    Example:
        >>> loss = mse(pred, y) + 0.2 * ConR(threshold=1.0)(features, y, pred)
    """

    def __init__(
        self, threshold: float = 1.0, pushing: float = 0.01, temperature: float = 0.07
    ) -> None:
        super().__init__()
        self.threshold, self.pushing, self.temperature = threshold, pushing, temperature

    def forward(
        self,
        features: Tensor,
        targets: Tensor,
        predictions: Tensor,
        *,
        sample_weights: Tensor | None = None,
    ) -> Tensor:
        return conr(
            features,
            targets,
            predictions,
            threshold=self.threshold,
            pushing=self.pushing,
            sample_weights=sample_weights,
            temperature=self.temperature,
        )


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
class AMCL(nn.Module):
    """Adaptive multi-head contrastive learning (see :func:`contrastor.functional.amcl`) with
    its temperature network ``phi`` (an MLP ``d -> d``, trained with the model and saved in
    ``state_dict``). Inputs are ``(n, H, d)`` head outputs, or ``(n, H * d)`` projections that
    are split into ``heads`` heads. Wang et al., ECCV 2024.

    Example:
        >>> loss = AMCL(dim=16, heads=4)(z1, z2)      # z1, z2: (n, 64)
    """

    def __init__(
        self,
        dim: int,
        heads: int = 3,
        *,
        beta: float = 0.01,
        tau_range: tuple[float, float] = (1e-5, 2.0),
        topk: int = 100,
        reduction: str = "mean",
    ) -> None:
        super().__init__()
        self.dim, self.heads = dim, heads
        self.beta, self.tau_range, self.topk, self.reduction = beta, tau_range, topk, reduction
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

    def forward(self, view_a: Tensor, view_b: Tensor, *, weights: Tensor | None = None) -> Tensor:
        return amcl(
            self._heads(view_a),
            self._heads(view_b),
            self.phi,
            beta=self.beta,
            tau_range=self.tau_range,
            topk=self.topk,
            weights=weights,
            reduction=self.reduction,
        )
