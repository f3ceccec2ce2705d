"""Views (augmentations) per modality, implemented on tensors."""

from contrastor.data.views.image import (
    ImageViews,
    jigsaw_task,
    rotation_task,
    standardize_styles,
)
from contrastor.data.views.tabular import MarginalCorruption
from contrastor.data.views.text import EasyDataAugmentation, IndependentCropping, WordRepetition
from contrastor.data.views.timeseries import SeriesViews

__all__ = [
    "EasyDataAugmentation",
    "ImageViews",
    "IndependentCropping",
    "MarginalCorruption",
    "SeriesViews",
    "WordRepetition",
    "jigsaw_task",
    "rotation_task",
    "standardize_styles",
]
