"""Modules for reweighted-negative losses: debiased / hard-negative contrast and CACR."""

from __future__ import annotations

from typing import Any, ClassVar

from contrastor.functional.negatives import cacr, debiased_contrastive
from contrastor.losses.base import DeclaredLoss
from contrastor.losses.registry import LossSpec, Task, register
from contrastor.losses.supcon import TakesViews, _ViewsLoss

__all__ = ["CACR", "DebiasedContrastive"]


def _with_class_prior(task: Task) -> dict[str, Any]:
    return {**task.tempered(), "class_prior": 0.1}


def _cacr_options(task: Task) -> dict[str, Any]:
    return {"repulsion_temperature": 1.0 / task.temperature, **task.gathered()}


@register(
    LossSpec(
        name="debiased_contrastive",
        title="Debiased contrastive",
        inputs="V >= 2 views",
        positives="other views; class prior tau+ corrects false negatives",
        paper="Chuang et al. 2020, Debiased Contrastive Learning",
        tiled=True,
        options=_with_class_prior,
        aliases=("debiased",),
        function=debiased_contrastive,
    ),
    LossSpec(
        name="hcl",
        title="Hard negative sampling (HCL)",
        inputs="V >= 2 views",
        positives="other views; negatives weighted by exp(beta s)",
        paper="Robinson et al. 2021, Contrastive Learning with Hard Negative Samples",
        tiled=True,
        options=_with_class_prior,
        variant={"concentration": 1.0},
        function=debiased_contrastive,
    ),
)
class DebiasedContrastive(_ViewsLoss):
    """Debiased contrastive loss with hardness-reweighted negatives (see
    :func:`contrastor.functional.debiased_contrastive`): ``class_prior`` tau+ debiases
    against false negatives, ``concentration`` beta > 0 up-weights hard negatives (HCL).
    Chuang et al., NeurIPS 2020; Robinson et al., ICLR 2021.

    Inputs: V >= 2 views, ``(n, d)`` each; optional ``labels`` ``(n,)`` (call time), whose
    same-class samples leave the negatives.
    Positives: the other views of the sample; the negative term is corrected for the share
    ``class_prior`` of same-class samples among the negatives.
    Settings: ``class_prior`` about 1 / classes (0.1 for 10 classes), temperature 0.5 in the
    paper (default 0.1);
    ``concentration`` 0.5-1 for hard negatives (HCL).
    Related: :class:`NTXent` (``class_prior = concentration = 0``), :class:`DCL`.

    Example:
        >>> loss = DebiasedContrastive(0.5, class_prior=0.1, concentration=1.0)(v1, v2)
    """

    function = staticmethod(debiased_contrastive)
    defaults: ClassVar[dict[str, float]] = {"class_prior": 0.1, "concentration": 0.0}


@register(
    LossSpec(
        name="cacr",
        title="Contrastive attraction and repulsion",
        inputs="V >= 2 views",
        positives="other views, far ones weighted up; close negatives weighted up",
        paper=(
            "Zheng et al. 2023, Contrastive Attraction and Contrastive Repulsion for "
            "Representation Learning"
        ),
        tiled=False,
        options=_cacr_options,
        function=cacr,
    ),
)
class CACR(TakesViews, DeclaredLoss):
    """Contrastive attraction and contrastive repulsion (see
    :func:`contrastor.functional.cacr`). Zheng et al., TMLR 2023.

    Inputs: V >= 2 views, ``(n, d)`` each.
    Positives: the other views of the sample, the farther ones pulled harder; negatives closer
    to the anchor are pushed harder.
    Settings: ``attraction_temperature`` and ``repulsion_temperature`` (the weighting
    sharpness of each side), ``attraction_weight`` (1 each by default).
    Related: :class:`DebiasedContrastive` (HCL's hard negatives), :class:`AlignUniform`.

    Example:
        >>> loss = CACR(repulsion_temperature=2.0)(view1, view2)
    """

    function = staticmethod(cacr)
    defaults: ClassVar[dict[str, float]] = {
        "attraction_temperature": 1.0,
        "repulsion_temperature": 1.0,
        "attraction_weight": 1.0,
        "repulsion_weight": 1.0,
    }
