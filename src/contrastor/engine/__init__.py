"""The contrastive engine: similarity, temperature, targets, objectives, per-anchor output.

Every loss in :mod:`contrastor.losses` is a short declaration over these parts. How they
compute is set here too: :func:`set_precision` / :func:`precision` (the matrix-product
precision, :mod:`contrastor.engine.precision`) and :func:`set_validation` /
:func:`validation` (the value checks, one host-device sync per loss call).
"""

from contrastor._validation import set_validation, validation
from contrastor.engine.adjust import Adjust
from contrastor.engine.output import ContrastiveOutput, reduce
from contrastor.engine.precision import precision, set_precision
from contrastor.engine.scores import AngularMargin
from contrastor.engine.sigmoid import sigmoid_objective
from contrastor.engine.similarity import SIMILARITIES, prepare, similarity_matrix
from contrastor.engine.softmax import softmax_objective
from contrastor.engine.targets import (
    AlignedTargets,
    ClusterWeights,
    ComparatorTargets,
    HierarchyTargets,
    LabelTargets,
    MultiLabelTargets,
    SoftTargets,
    Targets,
    ViewTargets,
    WindowTargets,
    resolve_targets,
)
from contrastor.engine.temperature import Temperature, inverse_temperature
from contrastor.engine.views import stack_views

__all__ = [
    "SIMILARITIES",
    "Adjust",
    "AlignedTargets",
    "AngularMargin",
    "ClusterWeights",
    "ComparatorTargets",
    "ContrastiveOutput",
    "HierarchyTargets",
    "LabelTargets",
    "MultiLabelTargets",
    "SoftTargets",
    "Targets",
    "Temperature",
    "ViewTargets",
    "WindowTargets",
    "inverse_temperature",
    "precision",
    "prepare",
    "reduce",
    "resolve_targets",
    "set_precision",
    "set_validation",
    "sigmoid_objective",
    "similarity_matrix",
    "softmax_objective",
    "stack_views",
    "validation",
]
