"""Evaluation: kNN accuracy, linear probe, chunked retrieval metrics, geometry diagnostics."""

from contrastor.eval.frozen import embed_in_chunks, feature_accuracy, view_geometry
from contrastor.eval.geometry import (
    alignment_score,
    effective_rank,
    modality_gap,
    similarity_gap,
    uniformity_score,
)
from contrastor.eval.knn import knn_accuracy, knn_predict
from contrastor.eval.linear_probe import linear_probe
from contrastor.eval.retrieval import mean_rank_variance, retrieval_metrics

__all__ = [
    "alignment_score",
    "effective_rank",
    "embed_in_chunks",
    "feature_accuracy",
    "knn_accuracy",
    "knn_predict",
    "linear_probe",
    "mean_rank_variance",
    "modality_gap",
    "retrieval_metrics",
    "similarity_gap",
    "uniformity_score",
    "view_geometry",
]
