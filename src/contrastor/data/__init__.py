"""Datasets (bundled, or your own files: :mod:`.files`), views and batch plans (samplers)."""

from contrastor.data.codesearch import CodePair, split_by_module, stdlib_code_pairs
from contrastor.data.datasets import (
    ImageDataset,
    load_image_dataset,
    stratified_split,
    validation_split,
)
from contrastor.data.files import KINDS, detect_kind
from contrastor.data.folder import FolderImages, read_image_captions, read_image_folder
from contrastor.data.samplers import MPerClass, NoDuplicates, PerSource, RankBatches, key_labels
from contrastor.data.views import ImageViews

__all__ = [
    "KINDS",
    "CodePair",
    "FolderImages",
    "ImageDataset",
    "ImageViews",
    "MPerClass",
    "NoDuplicates",
    "PerSource",
    "RankBatches",
    "detect_kind",
    "key_labels",
    "load_image_dataset",
    "read_image_captions",
    "read_image_folder",
    "split_by_module",
    "stdlib_code_pairs",
    "stratified_split",
    "validation_split",
]
