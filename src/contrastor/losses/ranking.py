"""Modules for ranking losses: decoupled softmax, Mann-Whitney (AUC), list-wise losses."""

from __future__ import annotations

from typing import Any, ClassVar

from contrastor.functional.ranking import (
    decoupled_softmax,
    listnet,
    listwise_wasserstein,
    mann_whitney,
)
from contrastor.losses.base import TemperatureLoss
from contrastor.losses.registry import LossSpec, register

__all__ = ["DecoupledSoftmax", "ListNet", "ListwiseWasserstein", "MannWhitney"]


@register(
    LossSpec(
        name="decoupled_softmax",
        title="Decoupled softmax (multi-label)",
        inputs="queries, references + labels, multi-hot or soft targets",
        positives="every labelled match; other positives left out of each term",
        paper="Gupta et al. 2024, Dual-Encoders for Extreme Multi-Label Classification",
        tiled=True,
        supervised=True,
        views=(2, 2),
        feed="labelled_pair",
        function=decoupled_softmax,
    ),
)
class DecoupledSoftmax(TemperatureLoss):
    """Decoupled softmax for multi-label dual encoders (see
    :func:`contrastor.functional.decoupled_softmax`). Gupta et al., ICLR 2024.

    Inputs: ``query`` ``(n, d)`` (e.g. documents), ``reference`` ``(m, d)`` (e.g. label
    embeddings), and ``labels`` (call time): multi-hot ``(n, m)``, soft targets, or class ids
    with ``reference_labels``.
    Positives: every labelled match; each positive's term leaves the other positives out of
    its denominator, so many labels per query do not compete.
    Settings: a low temperature (default 0.1; 0.05 in the example).
    Related: :class:`InfoNCE` (one positive), :class:`SupCon`.

    Example:
        >>> loss = DecoupledSoftmax(0.05)(doc_emb, label_emb, labels=doc_labels,
        ...                               reference_labels=label_ids)
    """

    function = staticmethod(decoupled_softmax)


@register(
    LossSpec(
        name="mann_whitney",
        title="Mann-Whitney (AUC) loss",
        inputs="queries, references (+ labels or targets)",
        positives="index-aligned or labelled; BCE on every positive-negative gap",
        paper="Optimizing What Matters: AUC-Driven Learning for Robust Neural Retrieval, 2025",
        tiled=False,
        views=(2, 2),
        feed="pair",
        aliases=("auc",),
        function=mann_whitney,
    ),
)
class MannWhitney(TemperatureLoss):
    """Mann-Whitney (AUC) retrieval loss (see :func:`contrastor.functional.mann_whitney`).

    Inputs: ``query`` ``(n, d)``, ``reference`` ``(m, d)``; optional ``labels`` or
    ``targets`` (call time).
    Positives: index-aligned or labelled; the loss is a logistic loss on every
    positive-minus-negative score gap (a smooth AUC).
    Settings: temperature (default 0.1).
    Related: :class:`InfoNCE`, :class:`SigLIP`.

    Example:
        >>> loss = MannWhitney(0.1)(query_emb, doc_emb)
    """

    function = staticmethod(mann_whitney)


@register(
    LossSpec(
        name="listwise_wasserstein",
        title="List-wise Wasserstein",
        inputs="query, its document list, graded relevance",
        positives="graded: distance between score and relevance distributions",
        paper=(
            "Esfandiarpoor et al. 2025, Beyond Contrastive Learning: Synthetic Data Enables "
            "List-wise Training with Multiple Levels of Relevance"
        ),
        tiled=False,
        ddp="local lists",
        feed=None,
        unfit="needs document lists with graded relevance",
        function=listwise_wasserstein,
    ),
)
class ListwiseWasserstein(TemperatureLoss):
    """Wasserstein list-wise loss over graded relevance (see
    :func:`contrastor.functional.listwise_wasserstein`); ``order`` 1 or 2.

    Inputs: ``query`` ``(n, d)``, ``documents`` ``(n, k, d)`` (each query's list) and
    ``relevance`` ``(n, k)`` graded, >= 0.
    Positives: graded: the loss is the distance between the score distribution and the
    relevance distribution of each list.
    Settings: temperature (default 0.1; 0.05 in the example); ``order`` 1 or 2.
    Related: :class:`ListNet`, :class:`InfoNCE` (one relevant document).

    Example:
        >>> loss = ListwiseWasserstein(0.05, order=2)(q, docs, grades)
    """

    function = staticmethod(listwise_wasserstein)
    defaults: ClassVar[dict[str, Any]] = {"order": 1}


@register(
    LossSpec(
        name="listnet",
        title="ListNet",
        inputs="query, its document list, graded relevance",
        positives="graded: cross-entropy to the relevance distribution",
        paper="Cao et al. 2007, Learning to Rank: From Pairwise Approach to Listwise Approach",
        tiled=False,
        ddp="local lists",
        feed=None,
        unfit="needs document lists with graded relevance",
        function=listnet,
    ),
)
class ListNet(TemperatureLoss):
    """ListNet cross-entropy over graded relevance (see :func:`contrastor.functional.listnet`).

    Inputs: ``query`` ``(n, d)``, ``documents`` ``(n, k, d)`` and ``relevance``
    ``(n, k)`` graded, >= 0.
    Positives: graded: cross-entropy from the relevance distribution to the score
    distribution of each list.
    Settings: temperature (default 0.1; 0.05 in the example).
    Related: :class:`ListwiseWasserstein`, :class:`InfoNCE`.

    Example:
        >>> loss = ListNet(0.05)(q, docs, grades)
    """

    function = staticmethod(listnet)
