"""Datasets, views and batch plans (samplers)."""

from contrastor.data.codesearch import CodePair, split_by_module, stdlib_code_pairs
from contrastor.data.datasets import ImageDataset, load_image_dataset, stratified_split
from contrastor.data.samplers import MPerClass, NoDuplicates, PerSource, RankBatches, key_labels
from contrastor.data.views import ImageViews

__all__ = [
    "CodePair",
    "ImageDataset",
    "ImageViews",
    "MPerClass",
    "NoDuplicates",
    "PerSource",
    "RankBatches",
    "key_labels",
    "load_image_dataset",
    "split_by_module",
    "stdlib_code_pairs",
    "stratified_split",
]
