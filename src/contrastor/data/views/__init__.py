"""Views (augmentations) per modality, implemented on tensors."""

from contrastor.data.views.image import ImageViews
from contrastor.data.views.tabular import MarginalCorruption

__all__ = ["ImageViews", "MarginalCorruption"]
