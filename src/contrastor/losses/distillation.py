"""Modules for distillation from a teacher's scores: Margin-MSE and list-wise KL."""

from __future__ import annotations

from typing import Any, ClassVar

from contrastor.functional.distillation import distill_kl, margin_mse
from contrastor.losses.base import TemperatureLoss
from contrastor.losses.registry import LossSpec, register

__all__ = ["DistillKL", "MarginMSE"]

_UNFIT = "needs a teacher's scores for each query's candidate list"


@register(
    LossSpec(
        name="margin_mse",
        title="Margin-MSE distillation",
        inputs="query, its positive-then-negatives list, teacher scores of the list",
        positives="document 0 of each list; the teacher's margins are the targets",
        paper=(
            "Hofstätter et al. 2020, Improving Efficient Neural Ranking Models with "
            "Cross-Architecture Knowledge Distillation"
        ),
        tiled=False,
        ddp="local lists",
        feed=None,
        unfit=_UNFIT,
        function=margin_mse,
    ),
)
class MarginMSE(TemperatureLoss):
    """Margin-MSE distillation (see :func:`contrastor.functional.margin_mse`).

    Inputs: ``query`` ``(n, d)``, ``documents`` ``(n, 1 + k, d)`` (the positive first, then
    k negatives) and ``teacher_scores`` ``(n, 1 + k)`` (e.g. a cross-encoder's logits, or the
    ``scores`` column of a pair file).
    Positives: document 0; the loss matches the student's positive-minus-negative margins
    (scores over the temperature) to the teacher's.
    Settings: temperature 0.05 with cosine scores (student margins on the teacher's scale).
    Related: :class:`DistillKL` (whole-list distribution), :class:`ListNet`.

    Example:
        >>> loss = MarginMSE(0.05)(q, torch.stack([pos, neg], 1), teacher_scores)
    """

    function = staticmethod(margin_mse)
    settings: ClassVar[dict[str, Any]] = {"temperature": 0.05}


@register(
    LossSpec(
        name="distill_kl",
        title="KL distillation over candidate lists",
        inputs="query, its candidate list, teacher scores of the list",
        positives="graded by the teacher: KL from its softmax to the student's",
        paper=(
            "Ren et al. 2021, RocketQAv2: A Joint Training Method for Dense Passage Retrieval "
            "and Passage Re-ranking"
        ),
        tiled=False,
        ddp="local lists",
        feed=None,
        unfit=_UNFIT,
        function=distill_kl,
    ),
)
class DistillKL(TemperatureLoss):
    """List-wise KL distillation (see :func:`contrastor.functional.distill_kl`).

    Inputs: ``query`` ``(n, d)``, ``documents`` ``(n, k, d)`` (each query's candidates) and
    ``teacher_scores`` ``(n, k)`` (logits).
    Positives: graded by the teacher: ``softmax(teacher / teacher_temperature)`` is the
    target distribution of the student's ``softmax(scores / temperature)``.
    Settings: temperature 0.05 (cosine scores); ``teacher_temperature`` 1.0 for logits.
    Related: :class:`MarginMSE` (pairwise margins), :class:`ListNet` (graded relevance).

    Example:
        >>> loss = DistillKL(0.05, teacher_temperature=2.0)(q, candidates, teacher_logits)
    """

    function = staticmethod(distill_kl)
    defaults: ClassVar[dict[str, Any]] = {"teacher_temperature": 1.0}
    settings: ClassVar[dict[str, Any]] = {"temperature": 0.05}
