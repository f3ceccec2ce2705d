"""Datasets and views."""

from contrastor.data.datasets import ImageDataset, load_image_dataset, stratified_split
from contrastor.data.views import ImageViews

__all__ = ["ImageDataset", "ImageViews", "load_image_dataset", "stratified_split"]
