"""Modules for ranking losses: decoupled softmax, Mann-Whitney (AUC), list-wise losses."""

from __future__ import annotations

from typing import Any, ClassVar

from torch import Tensor

from contrastor.engine.output import ContrastiveOutput
from contrastor.engine.targets import Targets
from contrastor.functional.ranking import (
    decoupled_softmax,
    listnet,
    listwise_wasserstein,
    mann_whitney,
)
from contrastor.losses.base import TemperatureLoss


class _PairRankingLoss(TemperatureLoss):
    function = staticmethod(decoupled_softmax)

    def forward(
        self,
        query: Tensor,
        reference: Tensor,
        *,
        labels: Tensor | None = None,
        reference_labels: Tensor | None = None,
        targets: Tensor | Targets | None = None,
        weights: Tensor | None = None,
        return_output: bool = False,
    ) -> Tensor | ContrastiveOutput:
        run = self.run_options()
        if self.function is mann_whitney:
            run = {"exchange": run["exchange"]}
        return self.function(
            query,
            reference,
            temperature=self.temperature(),
            labels=labels,
            reference_labels=reference_labels,
            targets=targets,
            similarity=self.similarity,
            weights=weights,
            reduction=self.reduction,
            return_output=return_output,
            **run,
        )


class DecoupledSoftmax(_PairRankingLoss):
    """Decoupled softmax for multi-label dual encoders (see
    :func:`contrastor.functional.decoupled_softmax`). Gupta et al., ICLR 2024.

    Example:
        >>> loss = DecoupledSoftmax(0.05)(doc_emb, label_emb, labels=doc_labels,
        ...                               reference_labels=label_ids)
    """

    function = staticmethod(decoupled_softmax)


class MannWhitney(_PairRankingLoss):
    """Mann-Whitney (AUC) retrieval loss (see :func:`contrastor.functional.mann_whitney`).

    Example:
        >>> loss = MannWhitney(0.1)(query_emb, doc_emb)
    """

    function = staticmethod(mann_whitney)


class ListwiseWasserstein(TemperatureLoss):
    """Wasserstein list-wise loss over graded relevance (see
    :func:`contrastor.functional.listwise_wasserstein`); ``order`` 1 or 2.

    Example:
        >>> loss = ListwiseWasserstein(0.05, order=2)(q, docs, grades)
    """

    defaults: ClassVar[dict[str, Any]] = {"order": 1}

    def forward(
        self, query: Tensor, documents: Tensor, relevance: Tensor, *, weights: Tensor | None = None
    ) -> Tensor:
        return listwise_wasserstein(
            query,
            documents,
            relevance,
            temperature=self.temperature.value,
            order=self.order,
            similarity=self.similarity,
            weights=weights,
            reduction=self.reduction,
        )


class ListNet(TemperatureLoss):
    """ListNet cross-entropy over graded relevance (see :func:`contrastor.functional.listnet`).

    Example:
        >>> loss = ListNet(0.05)(q, docs, grades)
    """

    def forward(
        self, query: Tensor, documents: Tensor, relevance: Tensor, *, weights: Tensor | None = None
    ) -> Tensor:
        return listnet(
            query,
            documents,
            relevance,
            temperature=self.temperature.value,
            similarity=self.similarity,
            weights=weights,
            reduction=self.reduction,
        )
