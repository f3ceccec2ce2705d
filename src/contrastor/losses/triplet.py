"""The triplet loss module with in-batch mining."""

from __future__ import annotations

from typing import Any, ClassVar

from torch import Tensor

from contrastor.engine.output import ContrastiveOutput
from contrastor.engine.views import stack_views
from contrastor.functional.supcon import Views
from contrastor.functional.triplet import triplet_margin
from contrastor.losses.base import DeclaredLoss
from contrastor.losses.registry import LossSpec, Task, register

__all__ = ["TripletMargin"]


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
class TripletMargin(DeclaredLoss):
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

    def forward(self, embeddings: Views, labels: Tensor, **keywords: Any) -> Any:
        """Every view is an anchor carrying its sample's label and weight; per-anchor
        values come back as ``(n, V)``, like :class:`SupCon`."""
        stacked, n, views = stack_views(embeddings, "embeddings")
        rows = labels.repeat(views, *([1] * (labels.ndim - 1)))
        if keywords.get("weights") is not None:
            keywords["weights"] = keywords["weights"].repeat(views)
        out = super().forward(stacked, rows, **keywords)
        if isinstance(out, ContrastiveOutput):
            return out.map(lambda t: t.reshape(views, n).T)
        return out.reshape(views, n).T if self.reduction == "none" else out
