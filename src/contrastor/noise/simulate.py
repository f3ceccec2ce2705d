"""Simulators: corrupt a clean dataset in known, seeded, reversible ways and return the
ground truth of what was corrupted."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from contrastor._validation import check_labels


def _fraction(value: float) -> float:
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"fraction must be in [0, 1], got {value}")
    return value


def _pick(n: int, fraction: float, generator: torch.Generator | None) -> Tensor:
    count = round(_fraction(fraction) * n)
    return torch.randperm(n, generator=generator)[:count].sort().values


@dataclass
class PairCorruption:
    """Query ``i`` is now paired with reference ``partner[i]``; ``noisy[i]`` marks the
    mismatched pairs. :meth:`apply` re-pairs a reference tensor, :meth:`restore` undoes it."""

    partner: Tensor
    noisy: Tensor

    def apply(self, references: Tensor) -> Tensor:
        return references[self.partner]

    def restore(self, shuffled: Tensor) -> Tensor:
        out = torch.empty_like(shuffled)
        out[self.partner] = shuffled
        return out


def shuffle_pairs(
    n: int, fraction: float, *, generator: torch.Generator | None = None
) -> PairCorruption:
    """Noisy correspondence: re-pair ``round(fraction * n)`` randomly chosen pairs among
    themselves by a random derangement, so every chosen pair ends up mismatched (a single
    chosen pair cannot be deranged and is left clean)."""
    chosen = _pick(n, fraction, generator)
    partner = torch.arange(n)
    if len(chosen) >= 2:
        order = chosen[torch.randperm(len(chosen), generator=generator)]
        partner[order] = order.roll(1)  # a cycle over the chosen: no fixed point
    return PairCorruption(partner, partner != torch.arange(n))


@dataclass
class LabelCorruption:
    """``labels`` after flipping, ``original`` before, ``noisy`` where they differ."""

    labels: Tensor
    original: Tensor
    noisy: Tensor

    def restore(self) -> Tensor:
        return self.original.clone()


def flip_labels(
    labels: Tensor,
    fraction: float,
    *,
    num_classes: int | None = None,
    mapping: Tensor | None = None,
    generator: torch.Generator | None = None,
) -> LabelCorruption:
    """Label noise on ``round(fraction * n)`` random samples.

    Symmetric (default): each chosen label becomes a uniformly drawn *other* class.
    Class-dependent (asymmetric): with ``mapping`` (``mapping[c]`` = the class c is confused
    with, e.g. ``(c + 1) % C``), each chosen label c becomes ``mapping[c]``; samples whose
    class maps to itself stay clean.
    """
    check_labels(labels, labels.shape[0])
    if labels.ndim != 1 or labels.is_floating_point():
        raise ValueError("flip_labels takes 1-D integer class ids")
    classes = num_classes or int(labels.max()) + 1
    if classes < 2:
        raise ValueError("label flips need at least two classes")
    chosen = _pick(labels.shape[0], fraction, generator)
    noisy_labels = labels.clone().cpu()
    if mapping is not None:
        if mapping.shape != (classes,):
            raise ValueError(f"mapping must have one target class per class, shape ({classes},)")
        noisy_labels[chosen] = mapping.cpu()[noisy_labels[chosen]]
    else:
        shift = torch.randint(1, classes, (len(chosen),), generator=generator)
        noisy_labels[chosen] = (noisy_labels[chosen] + shift) % classes
    noisy_labels = noisy_labels.to(labels.device)
    return LabelCorruption(noisy_labels, labels.clone(), noisy_labels != labels)


@dataclass
class DuplicateCorruption:
    """``data``: the original samples followed by the injected near-duplicates;
    ``source[j]``: the original each row copies (itself for originals); ``duplicate``: which
    rows were injected. Any two rows with the same source are false negatives of each other."""

    data: Tensor
    source: Tensor
    duplicate: Tensor

    def restore(self) -> Tensor:
        return self.data[~self.duplicate]

    def same_source(self) -> Tensor:
        """``(m, m)`` bool: rows that are copies of one original (the false-negative pairs)."""
        return self.source[:, None] == self.source[None, :]


def inject_near_duplicates(
    data: Tensor,
    fraction: float,
    *,
    noise_std: float = 0.01,
    generator: torch.Generator | None = None,
) -> DuplicateCorruption:
    """Append a near-copy (``x + noise_std * N(0, 1)``) of ``round(fraction * n)`` random
    samples: in a batch, an original and its copy are false negatives of each other."""
    if noise_std < 0:
        raise ValueError(f"noise_std must be >= 0, got {noise_std}")
    n = data.shape[0]
    chosen = _pick(n, fraction, generator).to(data.device)
    noise = torch.randn(len(chosen), *data.shape[1:], generator=generator, dtype=torch.float64)
    copies = data[chosen] + noise_std * noise.to(data)
    source = torch.cat([torch.arange(n, device=data.device), chosen])
    duplicate = torch.cat(
        [torch.zeros(n, dtype=torch.bool), torch.ones(len(chosen), dtype=torch.bool)]
    ).to(data.device)
    return DuplicateCorruption(torch.cat([data, copies]), source, duplicate)
