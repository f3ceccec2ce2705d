"""The small training loop recipes share: AdamW, linear warm-up then cosine decay, a progress
bar, and one history row per epoch (the mean loss)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from contrastor.run.schedule import warmup_cosine


def fit(
    parameters: Iterable[nn.Parameter],
    batches: Callable[[torch.Generator], list[Any]],
    step: Callable[[Any, torch.Generator], Tensor],
    *,
    epochs: int,
    lr: float,
    weight_decay: float = 1e-4,
    warmup_epochs: float = 1.0,
    seed: int = 0,
    progress: bool = True,
    label: str = "train",
) -> list[dict[str, float]]:
    """Train for ``epochs``: each epoch draws its ``batches(generator)`` (a list, so its
    length is known), and ``step(batch, generator)`` returns the batch loss. Returns the
    history. Deterministic for a ``seed``."""
    params = [p for p in parameters if p.requires_grad]
    if not params:
        raise ValueError("nothing to train: no parameter requires grad")
    optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    g = torch.Generator().manual_seed(seed)
    plan = batches(g)
    if not plan:
        raise ValueError("an epoch has no batch: the batch size is larger than the data")
    per_epoch = len(plan)
    scheduler = warmup_cosine(optimizer, round(warmup_epochs * per_epoch), epochs * per_epoch)
    history: list[dict[str, float]] = []
    bar = tqdm(total=epochs * per_epoch, desc=label, disable=not progress, leave=False)
    for epoch in range(1, epochs + 1):
        losses = []
        for batch in plan:
            loss = step(batch, g)
            if not torch.isfinite(loss):
                raise FloatingPointError(f"{label}: the loss became {loss.item()} at epoch {epoch}")
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            scheduler.step()
            losses.append(float(loss.detach()))
            bar.update()
        history.append({"epoch": epoch, "loss": sum(losses) / len(losses)})
        if epoch < epochs:
            plan = batches(g)
    bar.close()
    return history


def shuffled_batches(n: int, batch_size: int) -> Callable[[torch.Generator], list[Tensor]]:
    """``batches`` for :func:`fit`: a fresh permutation of ``range(n)`` cut into full
    batches each epoch (the last, partial one is dropped)."""

    def draw(g: torch.Generator) -> list[Tensor]:
        order = torch.randperm(n, generator=g)
        return [order[i : i + batch_size] for i in range(0, n - batch_size + 1, batch_size)]

    return draw


def merge_histories(histories: dict[str, list[dict[str, float]]]) -> list[dict[str, float]]:
    """One history from several runs of equal length: per epoch, the mean ``loss`` and each
    run's own as ``loss NAME``."""
    if not histories:
        return []
    epochs = min(len(h) for h in histories.values())
    return [
        {"epoch": e + 1, "loss": sum(h[e]["loss"] for h in histories.values()) / len(histories)}
        | {f"loss {name}": h[e]["loss"] for name, h in histories.items()}
        for e in range(epochs)
    ]
