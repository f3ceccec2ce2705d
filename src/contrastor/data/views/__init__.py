"""Views (augmentations) per modality, implemented on tensors."""

from contrastor.data.views.image import ImageViews, standardize_styles
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
    "standardize_styles",
]
