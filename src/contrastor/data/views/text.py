"""Views of texts given as token lists (words or sub-words): ESimCSE word repetition,
Contriever's independent cropping and EDA's four edits. Each view is a callable
``view(tokens, generator) -> tokens`` drawing from a ``torch.Generator``, so runs repeat."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import torch

Tokens = list[str]


def _randint(low: int, high: int, generator: torch.Generator) -> int:
    """An integer in ``[low, high]``."""
    return int(torch.randint(low, high + 1, (1,), generator=generator))


def _sample(count: int, size: int, generator: torch.Generator) -> list[int]:
    """``count`` distinct positions of ``range(size)``, in increasing order."""
    return sorted(torch.randperm(size, generator=generator)[:count].tolist())


@dataclass
class WordRepetition:
    """Repeat a few tokens in place, a positive that differs in length but not in meaning
    (so length stops being a shortcut): ``k ~ U{0, max(2, int(rate * n))}`` distinct
    positions are doubled. Wu et al., "ESimCSE: Enhanced Sample Building Method for
    Contrastive Learning of Unsupervised Sentence Embedding", COLING 2022 (rate 0.32).

    Example:
        >>> WordRepetition()(["a", "cat", "sat"], torch.Generator().manual_seed(0))
    """

    rate: float = 0.32

    def __post_init__(self) -> None:
        if not 0.0 <= self.rate <= 1.0:
            raise ValueError(f"rate must be in [0, 1], got {self.rate}")

    def __call__(self, tokens: Sequence[str], generator: torch.Generator) -> Tokens:
        n = len(tokens)
        if n == 0:
            return []
        count = min(n, _randint(0, max(2, int(self.rate * n)), generator))
        doubled = set(_sample(count, n, generator))
        out: Tokens = []
        for i, token in enumerate(tokens):
            out += [token, token] if i in doubled else [token]
        return out


@dataclass
class IndependentCropping:
    """A random contiguous span whose length is a uniform share in ``[low, high]`` of the
    document; two crops drawn independently form a positive pair (they may overlap or
    not). Izacard et al., "Unsupervised Dense Information Retrieval with Contrastive
    Learning" (Contriever), TMLR 2022 (shares 0.1 to 0.5)."""

    low: float = 0.1
    high: float = 0.5

    def __post_init__(self) -> None:
        if not 0.0 < self.low <= self.high <= 1.0:
            raise ValueError(f"need 0 < low <= high <= 1, got {self.low} and {self.high}")

    def __call__(self, tokens: Sequence[str], generator: torch.Generator) -> Tokens:
        n = len(tokens)
        if n == 0:
            return []
        share = self.low + (self.high - self.low) * float(torch.rand((), generator=generator))
        length = max(1, round(share * n))
        start = _randint(0, n - length, generator)
        return list(tokens[start : start + length])


@dataclass
class EasyDataAugmentation:
    """One EDA edit per view, chosen uniformly: synonym replacement, random insertion (of a
    synonym of a word of the text), random swap (each of ``max(1, int(alpha * n))`` times)
    or random deletion (each token with probability ``alpha``, keeping at least one).
    ``synonyms`` maps a word to its synonyms (EDA used WordNet, which is not bundled: pass
    your own table; without one, only swap and deletion are drawn). Wei & Zou, "EDA: Easy
    Data Augmentation Techniques for Boosting Performance on Text Classification Tasks",
    EMNLP 2019 (alpha 0.1)."""

    alpha: float = 0.1
    synonyms: Mapping[str, Sequence[str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not 0.0 <= self.alpha <= 1.0:
            raise ValueError(f"alpha must be in [0, 1], got {self.alpha}")

    def edits(self) -> tuple[str, ...]:
        both = ("swap", "delete")
        return ("replace", "insert", *both) if self.synonyms else both

    def __call__(self, tokens: Sequence[str], generator: torch.Generator) -> Tokens:
        edits = self.edits()
        return self.apply(edits[_randint(0, len(edits) - 1, generator)], tokens, generator)

    def apply(self, edit: str, tokens: Sequence[str], generator: torch.Generator) -> Tokens:
        """One named edit (``replace``, ``insert``, ``swap`` or ``delete``)."""
        out = list(tokens)
        n = len(out)
        if n == 0:
            return out
        times = max(1, int(self.alpha * n))
        if edit == "delete":
            keep = (torch.rand(n, generator=generator) >= self.alpha).tolist()
            kept = [t for t, k in zip(out, keep, strict=True) if k]
            return kept or [out[_randint(0, n - 1, generator)]]
        if edit == "swap":
            for _ in range(times if n > 1 else 0):
                i, j = _sample(2, n, generator)
                out[i], out[j] = out[j], out[i]
            return out
        if edit not in ("replace", "insert"):
            raise ValueError(f"edit must be one of replace, insert, swap, delete; got {edit!r}")
        candidates = [i for i, t in enumerate(tokens) if self.synonyms.get(t)]
        for _ in range(min(times, len(candidates))):
            i = candidates[_randint(0, len(candidates) - 1, generator)]
            options = self.synonyms[tokens[i]]
            word = options[_randint(0, len(options) - 1, generator)]
            if edit == "replace":
                out[i] = word
            else:
                out.insert(_randint(0, len(out), generator), word)
        return out
