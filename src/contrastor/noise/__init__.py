"""Noise robustness: simulate known corruptions of a clean dataset, detect noisy samples and
pairs, and measure how well each detector finds them."""

from contrastor.noise.detect import (
    LossHistory,
    bad_pair_weights,
    detection_report,
    filter_labels_by_score,
    gmm_clean_probability,
    knn_label_agreement,
    linear_separation,
    small_loss_selection,
)
from contrastor.noise.simulate import (
    DuplicateCorruption,
    LabelCorruption,
    PairCorruption,
    flip_labels,
    inject_near_duplicates,
    shuffle_pairs,
)
from contrastor.noise.strategies import (
    EarlyLearningRegularizer,
    GuideSuspects,
    clean_weights,
    false_negative_mask,
    guide_suspects,
)
from contrastor.noise.training import CoDivide

__all__ = [
    "CoDivide",
    "DuplicateCorruption",
    "EarlyLearningRegularizer",
    "GuideSuspects",
    "LabelCorruption",
    "LossHistory",
    "PairCorruption",
    "bad_pair_weights",
    "clean_weights",
    "detection_report",
    "false_negative_mask",
    "filter_labels_by_score",
    "flip_labels",
    "gmm_clean_probability",
    "guide_suspects",
    "inject_near_duplicates",
    "knn_label_agreement",
    "linear_separation",
    "shuffle_pairs",
    "small_loss_selection",
]
