"""Offline datasets and tensor image views."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from contrastor.data import ImageViews, load_image_dataset, stratified_split


def test_digits_and_mnist_load_offline():
    digits = load_image_dataset("digits", test_fraction=0.2, seed=0)
    assert digits.image_shape == (1, 8, 8) and digits.num_classes == 10
    assert len(digits.train_labels) + len(digits.test_labels) == 1797
    mnist = load_image_dataset("mnist", test_fraction=0.2, seed=0)
    assert mnist.image_shape == (1, 28, 28)
    assert len(mnist.train_labels) == 4000 and len(mnist.test_labels) == 1000
    assert torch.bincount(mnist.test_labels).tolist() == [100] * 10
    assert float(mnist.train_images.min()) >= 0.0 and float(mnist.train_images.max()) <= 1.0
    with pytest.raises(ValueError, match="unknown dataset"):
        load_image_dataset("imagenet")


def test_stratified_split_is_disjoint_and_deterministic():
    labels = np.repeat(np.arange(4), 25)
    a_train, a_test = stratified_split(labels, 0.2, seed=3)
    b_train, b_test = stratified_split(labels, 0.2, seed=3)
    assert np.array_equal(a_test, b_test) and np.array_equal(a_train, b_train)
    assert not set(a_train) & set(a_test)
    assert len(a_train) + len(a_test) == 100 and np.bincount(labels[a_test]).tolist() == [5] * 4


def test_image_views_are_seeded_random_and_valid(gen):
    images = torch.rand(16, 1, 28, 28, generator=gen)
    views = ImageViews()
    a = views(images, torch.Generator().manual_seed(1))
    b = views(images, torch.Generator().manual_seed(1))
    c = views(images, torch.Generator().manual_seed(2))
    assert a.shape == images.shape and torch.equal(a, b) and not torch.equal(a, c)
    assert float(a.min()) >= 0.0 and float(a.max()) <= 1.0


def test_identity_view_reproduces_the_image(gen):
    images = torch.rand(4, 1, 8, 8, generator=gen)
    identity = ImageViews(
        crop_scale=(1.0, 1.0),
        crop_ratio=(1.0, 1.0),
        rotation=0.0,
        shear=0.0,
        translate=0.0,
        brightness=0.0,
        contrast=0.0,
        noise=0.0,
        erase_prob=0.0,
    )
    assert torch.allclose(identity(images, gen), images, atol=1e-5)
    with pytest.raises(ValueError, match="B, C, H, W"):
        identity(images[0], gen)
