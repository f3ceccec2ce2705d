"""Evaluation: kNN accuracy, linear probe, chunked retrieval metrics, geometry diagnostics,
STS correlation, zero-shot classification, threshold-free AUC diagnostics, a ridge-map
baseline for cross-modal retrieval and the exact McNemar test between two classifiers."""

from contrastor.eval.auc import per_query_auc, roc_curve
from contrastor.eval.frozen import embed_in_chunks, feature_accuracy, view_geometry
from contrastor.eval.geometry import (
    alignment_score,
    effective_rank,
    isotropy,
    modality_gap,
    partition_isotropy,
    similarity_gap,
    uniformity_score,
)
from contrastor.eval.knn import knn_accuracy, knn_predict
from contrastor.eval.linear_map import RidgeMap, ridge_map
from contrastor.eval.linear_probe import linear_probe
from contrastor.eval.linkage import link_records, pool_modalities
from contrastor.eval.retrieval import first_hit_spread, mean_rank_variance, retrieval_metrics
from contrastor.eval.scores import (
    centroid_scores,
    minimal_pair_scores,
    pair_gradients,
    similarity_distribution,
)
from contrastor.eval.significance import mcnemar, mcnemar_floor
from contrastor.eval.similarity import sts_correlation
from contrastor.eval.zero_shot import prompt_ensemble, zero_shot_accuracy

__all__ = [
    "RidgeMap",
    "alignment_score",
    "centroid_scores",
    "effective_rank",
    "embed_in_chunks",
    "feature_accuracy",
    "first_hit_spread",
    "isotropy",
    "knn_accuracy",
    "knn_predict",
    "linear_probe",
    "link_records",
    "mcnemar",
    "mcnemar_floor",
    "mean_rank_variance",
    "minimal_pair_scores",
    "modality_gap",
    "pair_gradients",
    "partition_isotropy",
    "per_query_auc",
    "pool_modalities",
    "prompt_ensemble",
    "retrieval_metrics",
    "ridge_map",
    "roc_curve",
    "similarity_distribution",
    "similarity_gap",
    "sts_correlation",
    "uniformity_score",
    "view_geometry",
    "zero_shot_accuracy",
]
