"""Label corruption of the image job's training split, to measure robustness (the strategy
that trains through it is :class:`contrastor.noise.training.RobustTraining`)."""

from __future__ import annotations

import torch
from torch import Tensor

from contrastor.noise.simulate import LabelCorruption, flip_labels

#: class-dependent flips for digit images (Patrini et al., CVPR 2017): 2->7, 3->8, 5<->6, 7->1
DIGIT_CONFUSIONS = {2: 7, 3: 8, 5: 6, 6: 5, 7: 1}


def corrupt_labels(labels: Tensor, fraction: float, kind: str, seed: int) -> LabelCorruption:
    """The training labels a run sees: ``fraction`` of them flipped, seeded by the run's seed.
    ``kind`` ``symmetric`` (to a uniformly drawn other class) or ``asymmetric`` (the digit
    confusions above; other classes stay clean, so the realised rate is lower)."""
    generator = torch.Generator().manual_seed(10_000 + seed)
    classes = int(labels.max()) + 1
    if kind == "symmetric":
        return flip_labels(labels, fraction, num_classes=classes, generator=generator)
    mapping = torch.arange(classes)
    for source, target in DIGIT_CONFUSIONS.items():
        if source < classes and target < classes:
            mapping[source] = target
    return flip_labels(labels, fraction, num_classes=classes, mapping=mapping, generator=generator)
