"""Views (augmentations) per modality, implemented on tensors."""

from contrastor.data.views.image import ImageViews
from contrastor.data.views.tabular import MarginalCorruption
from contrastor.data.views.timeseries import SeriesViews

__all__ = ["ImageViews", "MarginalCorruption", "SeriesViews"]
