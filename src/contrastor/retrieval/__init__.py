"""Retrieval training kit: corpus search, hard-negative mining with false-negative guards,
duplicate-safe batch labels, evaluation against graded qrels (BEIR layout) and an
``encode()`` front for evaluation suites. Matryoshka training is
:class:`contrastor.losses.Matryoshka`; distillation from teacher scores is
:func:`contrastor.functional.margin_mse` and :func:`contrastor.functional.distill_kl`."""

from contrastor.retrieval.encoder import Encoder
from contrastor.retrieval.keys import duplicate_safe_labels, text_keys
from contrastor.retrieval.mining import MinedNegatives, mine_hard_negatives
from contrastor.retrieval.qrels import (
    BeirSet,
    qrels_metrics,
    read_beir,
    run_metrics,
    write_beir,
)
from contrastor.retrieval.search import search

__all__ = [
    "BeirSet",
    "Encoder",
    "MinedNegatives",
    "duplicate_safe_labels",
    "mine_hard_negatives",
    "qrels_metrics",
    "read_beir",
    "run_metrics",
    "search",
    "text_keys",
    "write_beir",
]
