"""Distillation from a teacher's scores over each query's candidate list."""

from __future__ import annotations

import torch
from torch import Tensor

from contrastor.engine.output import ContrastiveOutput
from contrastor.engine.precision import full_precision
from contrastor.functional._common import finish
from contrastor.functional.ranking import list_scores, tempered

__all__ = ["distill_kl", "margin_mse"]

#: below it, squared margins over tau give gradients ~4 / tau^2 (over 1e5)
MIN_MARGIN_TEMPERATURE = 0.005


@full_precision
def margin_mse(
    query: Tensor,
    documents: Tensor,
    teacher_scores: Tensor,
    *,
    temperature: float | Tensor = 0.05,
    similarity: str = "cosine",
    weights: Tensor | None = None,
    reduction: str = "mean",
    return_output: bool = False,
) -> Tensor | ContrastiveOutput:
    """Margin-MSE: the student's score margins between the positive and each negative match
    the teacher's.

        L_i = 1/k sum_{j=1..k} ((s_i0 - s_ij) / tau - (t_i0 - t_ij))^2

    for a list whose document 0 is the positive and 1..k are negatives (e.g. mined ones);
    ``tau`` brings the student's scores to the teacher's scale (cosine / 0.05 spans [-20,
    20], the range of cross-encoder logits). Hofstätter et al., "Improving Efficient Neural
    Ranking Models with Cross-Architecture Knowledge Distillation", 2020. Inputs: ``query``
    ``(n, d)``, ``documents`` ``(n, 1 + k, d)``, ``teacher_scores`` ``(n, 1 + k)``. DDP:
    local lists.

    Example:
        >>> loss = margin_mse(q, torch.stack([pos, neg], 1), teacher, temperature=0.05)
    """
    if not isinstance(temperature, Tensor) and temperature < MIN_MARGIN_TEMPERATURE:
        raise ValueError(
            f"margin_mse's temperature must be at least {MIN_MARGIN_TEMPERATURE} (its gradient "
            f"grows as 1 / temperature^2), got {temperature}"
        )
    scores, teacher = list_scores(query, documents, teacher_scores, similarity, "teacher_scores")
    if scores.shape[1] < 2:
        raise ValueError("margin_mse needs a positive and at least one negative per list")
    student = tempered(scores, temperature)
    margins = student[:, :1] - student[:, 1:]
    target = teacher[:, :1] - teacher[:, 1:]
    per_anchor = ((margins - target) ** 2).mean(1)
    output = ContrastiveOutput(per_anchor, torch.ones_like(per_anchor, dtype=torch.bool), {})
    return finish(output, reduction, weights, return_output)


@full_precision
def distill_kl(
    query: Tensor,
    documents: Tensor,
    teacher_scores: Tensor,
    *,
    temperature: float | Tensor = 0.05,
    teacher_temperature: float = 1.0,
    similarity: str = "cosine",
    weights: Tensor | None = None,
    reduction: str = "mean",
    return_output: bool = False,
) -> Tensor | ContrastiveOutput:
    """KL divergence from the teacher's distribution over each query's candidates to the
    student's.

        L_i = KL(p_i || q_i) = sum_j p_ij (log p_ij - log q_ij),
        p_i = softmax(t_i / tau_t),  q_i = softmax(s_i / tau)

    (ListNet with the teacher's softmax as target, minus the teacher's entropy, so a perfect
    student scores 0). Used to distil cross-encoders into dual encoders, e.g. RocketQAv2
    (Ren et al. 2021) and the listwise distillation of recent embedding models. Inputs:
    ``query`` ``(n, d)``, ``documents`` ``(n, k, d)``, ``teacher_scores`` ``(n, k)``
    (logits; ``teacher_temperature`` sharpens or flattens them). DDP: local lists.

    Example:
        >>> loss = distill_kl(q, candidates, teacher_logits, temperature=0.05)
    """
    if not teacher_temperature > 0:
        raise ValueError(f"teacher_temperature must be positive, got {teacher_temperature}")
    scores, teacher = list_scores(query, documents, teacher_scores, similarity, "teacher_scores")
    target = torch.log_softmax(teacher / teacher_temperature, dim=1)
    student = torch.log_softmax(tempered(scores, temperature), dim=1)
    per_anchor = (target.exp() * (target - student)).sum(1)
    output = ContrastiveOutput(per_anchor, torch.ones_like(per_anchor, dtype=torch.bool), {})
    return finish(output, reduction, weights, return_output)
