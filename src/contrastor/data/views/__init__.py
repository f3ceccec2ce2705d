"""Views (augmentations) per modality, implemented on tensors."""

from contrastor.data.views.image import ImageViews

__all__ = ["ImageViews"]
