"""Multi-view losses: SupCon, NT-Xent, DCL, DCLW."""

from __future__ import annotations

from typing import Any, ClassVar

from torch import Tensor

from contrastor.engine.output import ContrastiveOutput
from contrastor.functional.supcon import Views, dcl, dclw, hard_contrastive, nt_xent, supcon
from contrastor.losses.base import TemperatureLoss
from contrastor.losses.registry import LossSpec, Task, register

__all__ = ["DCL", "DCLW", "HardContrastive", "NTXent", "SupCon"]


def _views(views: tuple[Tensor, ...]) -> Views:
    """``loss(v1, v2, ...)`` or ``loss([v1, v2])`` or ``loss(z)`` with ``z`` of shape (n, V, d)."""
    if len(views) == 1:
        return views[0]
    return list(views)


@register(
    LossSpec(
        name="supcon",
        title="Supervised contrastive",
        inputs="views + class ids or multi-hot",
        positives="same class (any shared label)",
        paper="Khosla et al. 2020, Supervised Contrastive Learning",
        tiled=True,
        supervised=True,
        feed="labelled_views",
        function=supcon,
    ),
    LossSpec(
        name="supcon_in",
        title="Supervised contrastive, positives inside the log (L_in)",
        inputs="views + class ids or multi-hot",
        positives="same class (any shared label), averaged inside the log",
        paper="Khosla et al. 2020, Supervised Contrastive Learning (the L_in form)",
        tiled=True,
        supervised=True,
        feed="labelled_views",
        variant={"positive_mode": "in"},
        function=supcon,
    ),
)
class SupCon(TemperatureLoss):
    """Supervised contrastive loss (see :func:`contrastor.functional.supcon`).

    DDP: local anchors against gathered views and labels.
    Khosla et al., "Supervised Contrastive Learning", NeurIPS 2020.

    Inputs: ``features`` ``(n, V, d)`` (V views) or a list of V ``(n, d)`` views, and
    ``labels`` ``(n,)`` class ids or ``(n, C)`` multi-hot.
    Positives: every other view whose sample has the same label (or shares a label, for
    multi-hot); classes with one sample and one view are skipped.
    Settings: temperature 0.1 (the paper's), batches as large as memory allows (the tiled
    path keeps memory linear in the batch); ``positive_mode="in"`` is the paper's ``L_in``
    (positives averaged inside the log; the paper finds ``out`` better for training).
    Related: :class:`NTXent` (no labels), :class:`HierarchicalSupCon`, :class:`SBCL`.

    Example:
        >>> loss_fn = SupCon(temperature=0.1)
        >>> loss = loss_fn(z, labels)          # z: (n, V, d) or (n, d); labels: (n,)
    """

    function = staticmethod(supcon)
    defaults: ClassVar[dict[str, Any]] = {"positive_mode": "out"}


class TakesViews:
    """Mixin of a declared loss whose function takes the views first: the module is called
    as ``loss(v1, v2, ...)``, ``loss([v1, v2])`` or ``loss(z)`` with ``z`` of shape
    ``(n, V, d)``."""

    def forward(self, *views: Tensor, **keywords: Any) -> Tensor | ContrastiveOutput:
        return super().forward(_views(views), **keywords)


class _ViewsLoss(TakesViews, TemperatureLoss):
    """A label-free multi-view loss with a temperature (``function``: its functional form)."""

    function = staticmethod(nt_xent)


@register(
    LossSpec(
        name="nt_xent",
        title="NT-Xent (SimCLR)",
        inputs="V >= 2 views",
        positives="other views of the sample",
        paper=(
            "Chen et al. 2020, A Simple Framework for Contrastive Learning of Visual "
            "Representations"
        ),
        tiled=True,
        function=nt_xent,
    ),
)
class NTXent(_ViewsLoss):
    """NT-Xent, the SimCLR loss, for two or more views (see
    :func:`contrastor.functional.nt_xent`). DDP: local anchors against gathered views.
    Chen et al., "A Simple Framework for Contrastive Learning of Visual Representations", 2020.

    Inputs: V >= 2 views, ``(n, d)`` each (or one ``(n, V, d)``).
    Positives: the other views of the same sample; every view of every other sample is a
    negative.
    Settings: temperature 0.1 with large batches (SimCLR's 4,096), 0.2-0.5 for small ones.
    Related: :class:`DCL` (positive out of the denominator), :class:`SupCon` (labels),
    :class:`GlobalContrastive` (small batches).

    Example:
        >>> loss = NTXent(temperature=0.1)(view1, view2)
    """

    function = staticmethod(nt_xent)


@register(
    LossSpec(
        name="dcl",
        title="Decoupled contrastive",
        inputs="V >= 2 views",
        positives="other views; positives left out of the denominator",
        paper="Yeh et al. 2022, Decoupled Contrastive Learning",
        tiled=True,
        function=dcl,
    ),
)
class DCL(_ViewsLoss):
    """Decoupled contrastive loss: NT-Xent without the positive in the denominator (see
    :func:`contrastor.functional.dcl`). Yeh et al., "Decoupled Contrastive Learning", 2022.

    Inputs: V >= 2 views, ``(n, d)`` each (or one ``(n, V, d)``).
    Positives: the other views of the sample, left out of the denominator, so the loss does
    not weaken as the positive becomes easy (less sensitive to small batches than NT-Xent).
    Settings: temperature 0.1-0.2, as NT-Xent.
    Related: :class:`NTXent`, :class:`DCLW`.

    Example:
        >>> loss = DCL(temperature=0.1)(view1, view2)
    """

    function = staticmethod(dcl)


@register(
    LossSpec(
        name="dclw",
        title="Weighted decoupled contrastive",
        inputs="2 views",
        positives="other view, vMF-weighted",
        paper="Yeh et al. 2022, Decoupled Contrastive Learning",
        tiled=True,
        views=(2, 2),
        function=dclw,
    ),
)
class DCLW(_ViewsLoss):
    """Weighted DCL, positive term scaled by a von Mises-Fisher weight with width ``sigma``
    (see :func:`contrastor.functional.dclw`). Two views.
    Yeh et al., "Decoupled Contrastive Learning", ECCV 2022.

    Inputs: two views, ``(n, d)`` each (or one ``(n, 2, d)``).
    Positives: the other view of the sample, weighted by a von Mises-Fisher kernel of width
    ``sigma`` (harder pairs weigh more).
    Settings: ``sigma`` 0.5 (the paper's), temperature as :class:`DCL`.
    Related: :class:`DCL`, :class:`NTXent`.

    Example:
        >>> loss = DCLW(temperature=0.1, sigma=0.5)(view1, view2)
    """

    function = staticmethod(dclw)
    defaults: ClassVar[dict[str, float]] = {"sigma": 0.5}


def _quarter_of_the_negatives(task: Task) -> dict[str, Any]:
    """The image task's options: a quarter of an anchor's negatives (our default; choose K
    on a validation split)."""
    negatives = task.views * task.batch_size - task.views
    return {**task.tempered(), "top_k_negatives": max(1, negatives // 4)}


@register(
    LossSpec(
        name="hard_contrastive",
        title="Hard contrastive (top-K negatives)",
        inputs="V >= 2 views",
        positives="other views of the sample; only the K hardest negatives compared",
        paper="Wang & Liu 2021, Understanding the Behaviour of Contrastive Loss",
        tiled=True,
        options=_quarter_of_the_negatives,
        function=hard_contrastive,
    ),
)
class HardContrastive(_ViewsLoss):
    """NT-Xent with only each anchor's K hardest negatives in its denominator (see
    :func:`contrastor.functional.hard_contrastive`). DDP: the K hardest of all ranks' views.
    Wang & Liu, "Understanding the Behaviour of Contrastive Loss", CVPR 2021.

    Inputs: V >= 2 views, ``(n, d)`` each (or one ``(n, V, d)``).
    Positives: the other views of the sample; negatives: the K most similar other views.
    Settings: K a fraction of the negatives (a quarter on the image task, our default);
    the explicit selection of hard negatives lets a larger temperature keep the penalty on
    them, which is the paper's point.
    Related: :class:`NTXent` (every negative), :class:`DebiasedContrastive` (HCL's soft
    hardness weights), :class:`MoCHi` (synthetic hard negatives).

    Example:
        >>> loss = HardContrastive(top_k_negatives=128, temperature=0.2)(view1, view2)
    """

    function = staticmethod(hard_contrastive)
    defaults: ClassVar[dict[str, Any]] = {"top_k_negatives": 128}
    settings: ClassVar[dict[str, Any]] = {"temperature": 0.2}
