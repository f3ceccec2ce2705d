"""Modules with prototypes: SwAV (learned prototypes) and prototypical contrast (prototypes
from clustering the training set)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from contrastor.engine.output import ContrastiveOutput
from contrastor.functional.clustering import cluster_concentration, kmeans, proto_nce, swav
from contrastor.functional.infonce import info_nce
from contrastor.losses.base import TemperatureLoss
from contrastor.losses.registry import LossSpec, Task, register

__all__ = ["PrototypicalContrast", "SwAV"]


def _swav_options(task: Task) -> dict[str, Any]:
    return {**task.tempered(), "dim": task.embedding_dim, "prototypes": 30}


@register(
    LossSpec(
        name="swav",
        title="SwAV (swapped prototype assignments)",
        inputs="V >= 2 views",
        positives="the other views' Sinkhorn codes over learned prototypes",
        paper=(
            "Caron et al. 2020, Unsupervised Learning of Visual Features by Contrasting "
            "Cluster Assignments"
        ),
        tiled=False,
        ddp="per rank (codes equipartition the local batch)",
        state="learned prototypes",
        options=_swav_options,
        function=swav,
    ),
)
class SwAV(TemperatureLoss):
    """SwAV with learned prototypes (see :func:`contrastor.functional.swav`). Caron et al.,
    NeurIPS 2020.

    Inputs: V >= 2 views, ``(n, d)`` each (or ``(n, V, d)``).
    Positives: none compared directly: each view predicts the other views' equipartitioned
    codes over the prototypes.
    Settings: ``prototypes`` K and ``dim`` size the learned prototypes (unit-normalised in
    the loss); temperature 0.1, ``epsilon`` 0.05, ``iterations`` 3 (the paper's); batches
    well above K.
    Related: :class:`PrototypicalContrast` (prototypes from k-means), :class:`NTXent`.

    Example:
        >>> loss_fn = SwAV(prototypes=100, dim=128)
        >>> loss = loss_fn(view1, view2)
    """

    function = staticmethod(swav)
    defaults: ClassVar[dict[str, Any]] = {"epsilon": 0.05, "iterations": 3}

    def __init__(
        self, temperature: float | None = None, *, prototypes: int, dim: int, **kwargs: Any
    ) -> None:
        super().__init__(temperature, **kwargs)
        if prototypes < 2 or dim < 1:
            raise ValueError(f"need at least 2 prototypes and dim >= 1, got {prototypes}, {dim}")
        self.prototypes = nn.Parameter(torch.randn(prototypes, dim) / dim**0.5)

    def forward(self, *views: Tensor, **keywords: Any) -> Tensor | ContrastiveOutput:
        items = views[0] if len(views) == 1 else list(views)
        return swav(items, self.prototypes, **keywords, **self.call_options())


@register(
    LossSpec(
        name="proto_nce",
        title="Prototypical contrast (InfoNCE + ProtoNCE)",
        inputs="queries, keys (another view) and dataset indices",
        positives="the key of the same sample; its cluster's prototype in each clustering",
        paper=("Li et al. 2021, Prototypical Contrastive Learning of Unsupervised Representations"),
        tiled=True,
        ddp="InfoNCE: local queries vs gathered keys; prototypes shared",
        state="prototypes, assignments and concentrations of each clustering",
        views=(2, 2),
        feed=None,
        unfit="re-clusters the whole training set every epoch (call recluster)",
        function=proto_nce,
    ),
)
class PrototypicalContrast(TemperatureLoss):
    """InfoNCE plus ProtoNCE over clusterings of the training set (see
    :func:`contrastor.functional.proto_nce`). Li et al., ICLR 2021.

    Inputs: ``query`` and ``key`` ``(n, d)`` (two views; PCL's key comes from a momentum
    encoder) and ``index`` ``(n,)``, the samples' positions in the dataset.
    Positives: the key of the same sample, and in each clustering the sample's prototype,
    at that prototype's own temperature.
    Settings: temperature 0.1; call :meth:`recluster` with the features of the whole
    training set at the start of each epoch (PCL: ``clusters`` 25k, 50k, 100k on ImageNet;
    a few times the number of classes on small data). Before the first call only InfoNCE
    is trained (PCL's warm-up).
    Related: :class:`SwAV` (learned prototypes), :class:`~contrastor.engine.ClusterWeights`
    (the same clusters as negative weights, MEOW).

    Example:
        >>> loss_fn = PrototypicalContrast()
        >>> loss_fn.recluster(all_features, clusters=(50, 100))    # each epoch
        >>> loss = loss_fn(q, k, index=batch_index)
    """

    settings: ClassVar[dict[str, Any]] = {"temperature": 0.1}

    def __init__(self, temperature: float | None = None, **kwargs: Any) -> None:
        super().__init__(temperature, **kwargs)
        self.clusterings: list[tuple[Tensor, Tensor, Tensor]] = []

    @torch.no_grad()
    def recluster(
        self,
        features: Tensor,
        clusters: Sequence[int],
        *,
        alpha: float = 10.0,
        generator: torch.Generator | None = None,
    ) -> None:
        """Cluster ``features`` (the whole training set, in dataset order) once per entry of
        ``clusters`` with spherical k-means; store centroids, assignments and
        concentrations (scaled to the loss's temperature)."""
        tau = float(self.temperature.argument())
        self.clusterings = []
        for k in clusters:
            centroids, assignments = kmeans(features, k, generator=generator)
            phi = cluster_concentration(
                features, centroids, assignments, alpha=alpha, temperature=tau
            )
            self.clusterings.append((centroids, assignments, phi))

    def forward(
        self, query: Tensor, key: Tensor, *, index: Tensor, weights: Tensor | None = None
    ) -> Tensor:
        options = {**self.run_options(), "temperature": self.temperature.argument()}
        loss = info_nce(query, key, weights=weights, reduction=self.reduction, **options)
        if not self.clusterings:
            return loss
        batch = [(c, a[index.to(a.device)], phi) for c, a, phi in self.clusterings]
        return loss + proto_nce(query, batch, weights=weights, reduction=self.reduction)
