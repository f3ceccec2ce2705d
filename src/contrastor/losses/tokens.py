"""The token-level contrastive module (SimCTG)."""

from __future__ import annotations

from typing import Any, ClassVar

from contrastor.functional.tokens import token_contrastive
from contrastor.losses.base import DeclaredLoss
from contrastor.losses.registry import LossSpec, register

__all__ = ["TokenContrastive"]


@register(
    LossSpec(
        name="simctg",
        title="Token-level contrast (SimCTG)",
        inputs="a language model's token representations (batch, T, d) + padding mask",
        positives="each token with itself; every other token of its sequence is a negative",
        paper="Su et al. 2022, A Contrastive Framework for Neural Text Generation",
        tiled=False,
        ddp="per rank: sequences are independent",
        views=(2, 2),
        feed=None,
        unfit="needs a language model's token representations",
        function=token_contrastive,
    ),
)
class TokenContrastive(DeclaredLoss):
    """SimCTG's token contrast (see :func:`contrastor.functional.token_contrastive`), added
    to the language-modelling loss. Su et al., NeurIPS 2022.

    Inputs: ``hidden`` ``(batch, T, d)`` and ``mask`` ``(batch, T)`` of real tokens.
    Positives: none beyond the token itself: every pair of distinct tokens of a sequence is
    held ``margin`` below self-similarity.
    Settings: ``margin`` 0.5 (the paper's). Decode with
    :func:`contrastor.models.decoding.contrastive_search`; measure with
    :func:`contrastor.eval.isotropy`.
    Related: :class:`Uniformity` (a sequence-level spread term).

    Example:
        >>> out = lm(ids, attention_mask=mask, labels=ids, output_hidden_states=True)
        >>> loss = out.loss + TokenContrastive()(out.hidden_states[-1], mask.bool())
    """

    function = staticmethod(token_contrastive)
    defaults: ClassVar[dict[str, Any]] = {"margin": 0.5}
