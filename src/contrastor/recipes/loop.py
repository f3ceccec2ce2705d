"""How a recipe trains: :func:`fit` runs a recipe's modules, batches and step on the shared
loop (:mod:`contrastor.run.loop`), so every recipe resumes after a kill, runs under
``torchrun`` and in bf16, as the image job does."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from contrastor.run.loop import Loop, RunContext, Schedule

Batches = Callable[[int, torch.Generator], list[Tensor]]
Step = Callable[[Tensor, Loop], Tensor]


@dataclass
class FunctionTask:
    """A :class:`~contrastor.run.loop.Task` from a recipe's parts: the ``parts`` it trains or
    keeps state in, ``draw(epoch, generator)`` for the plan of an epoch and
    ``loss(batch, loop)`` for a batch's loss; ``end(epoch)``, if given, after every epoch
    (True stops the run: early stopping); ``after()``, if given, after every optimiser step.
    """

    parts: dict[str, nn.Module]
    draw: Batches
    loss: Step
    end: Callable[[int], bool] | None = None
    after: Callable[[], None] | None = None

    def modules(self) -> dict[str, nn.Module]:
        return self.parts

    def batches(self, epoch: int, g: torch.Generator) -> list[Tensor]:
        return self.draw(epoch, g)

    def step(self, batch: Tensor, loop: Loop) -> Tensor:
        return self.loss(batch, loop)

    def end_epoch(self, epoch: int) -> bool:
        return self.end is not None and self.end(epoch)

    def after_step(self) -> None:
        if self.after is not None:
            self.after()


def fit(
    modules: dict[str, nn.Module],
    batches: Batches,
    step: Step,
    *,
    epochs: int,
    lr: float,
    weight_decay: float = 1e-4,
    warmup_epochs: float = 1.0,
    seed: int = 0,
    context: RunContext | None = None,
    label: str = "train",
    lr_scales: dict[str, float] | None = None,
    end_epoch: Callable[[int], bool] | None = None,
    after_step: Callable[[], None] | None = None,
    decay: str = "cosine",
) -> list[dict[str, Any]]:
    """Train ``modules`` for ``epochs`` (AdamW, a linear warm-up, then the rate's ``decay``:
    ``"cosine"`` to zero or ``"none"``): each epoch draws its ``batches(epoch, generator)``,
    ``step(batch, loop)`` returns the batch loss.
    ``label`` names the progress bar and the checkpoint in the ``context``'s run folder;
    ``lr_scales``: learning-rate multipliers by parameter-name prefix (:class:`Schedule`);
    ``end_epoch(epoch)`` after every epoch, True to stop early
    (:class:`~contrastor.run.early_stopping.EarlyStopping`); ``after_step()`` after every
    optimiser step (e.g. a weight average; keep its state in ``modules`` so that it resumes).
    Returns the history, one row per epoch. Deterministic for a ``seed``."""
    schedule = Schedule(
        epochs, lr, weight_decay, warmup_epochs, seed, dict(lr_scales or {}), decay=decay
    )
    context = context or RunContext(progress=False)
    task = FunctionTask(modules, batches, step, end_epoch, after_step)
    return Loop(task, schedule, context, name=label).fit()


def shuffled_batches(n: int, batch_size: int) -> Batches:
    """``batches`` for :func:`fit`: a fresh permutation of ``range(n)`` cut into full
    batches each epoch (the last, partial one is dropped)."""

    def draw(epoch: int, g: torch.Generator) -> list[Tensor]:
        order = torch.randperm(n, generator=g)
        return [order[i : i + batch_size] for i in range(0, n - batch_size + 1, batch_size)]

    return draw


def merge_histories(histories: dict[str, list[dict[str, float]]]) -> list[dict[str, float]]:
    """One history from several runs: per epoch, the mean ``loss`` of the runs still training
    then (runs stopped early end sooner) and each one's own as ``loss NAME``."""
    epochs = max((len(h) for h in histories.values()), default=0)
    rows = []
    for e in range(epochs):
        losses = {name: h[e]["loss"] for name, h in histories.items() if e < len(h)}
        mean = sum(losses.values()) / len(losses)
        rows.append({"epoch": e + 1, "loss": mean} | {f"loss {n}": v for n, v in losses.items()})
    return rows
