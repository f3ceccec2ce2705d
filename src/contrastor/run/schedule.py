"""Learning-rate schedule: linear warm-up, then cosine decay to zero or a constant rate."""

from __future__ import annotations

import math

import torch

#: what the learning rate does after the warm-up
DECAYS = ("cosine", "none")


def warmup_cosine(
    optimizer: torch.optim.Optimizer, warmup_steps: int, total_steps: int, decay: str = "cosine"
) -> torch.optim.lr_scheduler.LambdaLR:
    """``lr * step / warmup`` for the first ``warmup_steps``, then
    ``lr * 0.5 * (1 + cos(pi * progress))`` until ``total_steps`` (``decay="cosine"``) or
    ``lr`` throughout (``decay="none"``, the constant rate of e.g. TS2Vec)."""
    if decay not in DECAYS:
        raise ValueError(f"decay must be one of {DECAYS}, got {decay!r}")

    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        if decay == "none":
            return 1.0
        progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
