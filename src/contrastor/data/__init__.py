"""Datasets and views."""

from contrastor.data.codesearch import CodePair, split_by_module, stdlib_code_pairs
from contrastor.data.datasets import ImageDataset, load_image_dataset, stratified_split
from contrastor.data.views import ImageViews

__all__ = [
    "CodePair",
    "ImageDataset",
    "ImageViews",
    "load_image_dataset",
    "split_by_module",
    "stdlib_code_pairs",
    "stratified_split",
]
