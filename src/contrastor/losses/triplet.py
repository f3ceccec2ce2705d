"""Metric-learning modules: the triplet loss with in-batch mining and the multi-similarity
loss."""

from __future__ import annotations

from typing import Any, ClassVar

from torch import Tensor

from contrastor.engine.output import ContrastiveOutput
from contrastor.engine.views import stack_views
from contrastor.functional.supcon import Views
from contrastor.functional.triplet import multi_similarity, triplet_margin
from contrastor.losses.base import DeclaredLoss
from contrastor.losses.registry import LossSpec, Task, register

__all__ = ["MultiSimilarity", "TripletMargin"]


class _LabelledViews:
    """Mixin: every view is an anchor carrying its sample's label and weight; per-anchor
    values come back as ``(n, V)``, like :class:`SupCon`."""

    def forward(self, embeddings: Views, labels: Tensor, **keywords: Any) -> Any:
        stacked, n, views = stack_views(embeddings, "embeddings")
        rows = labels.repeat(views, *([1] * (labels.ndim - 1)))
        if keywords.get("weights") is not None:
            keywords["weights"] = keywords["weights"].repeat(views)
        out = super().forward(stacked, rows, **keywords)
        if isinstance(out, ContrastiveOutput):
            return out.map(lambda t: t.reshape(views, n).T)
        return out.reshape(views, n).T if self.reduction == "none" else out


@register(
    LossSpec(
        name="triplet",
        title="Triplet margin with in-batch mining",
        inputs="embeddings (or views) + class ids",
        positives="same class; the mined (farthest / semi-hard / every) positives",
        paper=(
            "Schroff et al. 2015, FaceNet; Hermans et al. 2017, In Defense of the Triplet "
            "Loss for Person Re-Identification"
        ),
        tiled=False,
        ddp="per rank: triplets of the local batch",
        supervised=True,
        feed="labelled_views",
        options=Task.gathered,
        function=triplet_margin,
    ),
)
class TripletMargin(_LabelledViews, DeclaredLoss):
    """Triplet loss over triplets mined in the batch (see
    :func:`contrastor.functional.triplet_margin`; the miner alone is
    :func:`contrastor.functional.mine_triplets`).

    Inputs: ``embeddings`` ``(n, d)``, views ``(n, V, d)`` or a list of views (each view an
    anchor with its sample's label), and ``labels`` ``(n,)``.
    Positives: same-label samples; negatives: the others, chosen by ``mining``.
    Settings: ``margin`` 0.2, ``mining`` ``batch_hard`` (or ``semi_hard``, ``all``),
    ``distance`` ``euclidean`` (or ``cosine``), ``soft`` margin (softplus).
    Related: :class:`SupCon` (every positive and negative at once), :func:`mine_triplets`
    with ``negative_weights`` to give mined negatives to a softmax loss.

    Example:
        >>> loss = TripletMargin(mining="semi_hard")(z, labels)
    """

    function = staticmethod(triplet_margin)
    defaults: ClassVar[dict[str, Any]] = {
        "margin": 0.2,
        "mining": "batch_hard",
        "distance": "euclidean",
        "soft": False,
    }

    def __init__(self, *, gather_distributed: bool = False, **options: Any) -> None:
        super().__init__(**options)


@register(
    LossSpec(
        name="multi_similarity",
        title="Multi-similarity",
        inputs="embeddings (or views) + class ids",
        positives="same class; informative pairs mined and weighted softly",
        paper=(
            "Wang et al. 2019, Multi-Similarity Loss with General Pair Weighting for Deep "
            "Metric Learning"
        ),
        tiled=False,
        ddp="per rank: pairs of the local batch",
        supervised=True,
        feed="labelled_views",
        options=Task.gathered,
        function=multi_similarity,
    ),
)
class MultiSimilarity(_LabelledViews, DeclaredLoss):
    """Multi-similarity loss (see :func:`contrastor.functional.multi_similarity`).

    Inputs: ``embeddings`` ``(n, d)``, views ``(n, V, d)`` or a list of views, and
    ``labels`` ``(n,)``.
    Positives: same-label samples; pairs mined by the hardest opposite pair +- ``margin``.
    Settings: ``alpha`` 2, ``beta`` 40, ``base`` 0.5, ``margin`` 0.1 (the authors' code).
    Related: :class:`TripletMargin`, :class:`SupCon`.

    Example:
        >>> loss = MultiSimilarity()(z, labels)
    """

    function = staticmethod(multi_similarity)
    defaults: ClassVar[dict[str, Any]] = {"alpha": 2.0, "beta": 40.0, "base": 0.5, "margin": 0.1}

    def __init__(self, *, gather_distributed: bool = False, **options: Any) -> None:
        super().__init__(**options)
