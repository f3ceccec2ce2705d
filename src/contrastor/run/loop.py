"""The one training loop every job runs on: the image job and every recipe.

A job is a :class:`Task`: the modules it trains (saved and restored whole), the plan of an
epoch (a list of index batches) and the loss of one batch. :class:`Loop` adds AdamW with a
warm-up + cosine schedule, optional bf16 autocast, a progress bar, ``torchrun`` data
parallelism (each rank computes its share of every batch; gradients are averaged over
ranks), a check that the loss stays finite, per-epoch metrics, and atomic checkpoints with
exact resume.

Exact resume: the checkpoint holds the modules, the optimizer and scheduler, the step, the
current epoch's plan, the loop's random generator and torch's global random state. A run
killed at any point and resumed from its last checkpoint therefore takes the same steps with
the same random draws, and ends with the same weights as an uninterrupted run, as long as
the task keeps its own state in its modules.
"""

from __future__ import annotations

import contextlib
import json
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import torch
import torch.distributed as dist
from torch import Tensor, nn
from tqdm.auto import tqdm

from contrastor.run.checkpoint import load_checkpoint, read_metadata, save_checkpoint
from contrastor.run.metrics_log import MetricsLog
from contrastor.run.schedule import warmup_cosine
from contrastor.scale.distributed import Exchange, average_gradients, exchange_for, shard
from contrastor.scale.launch import Launch, init_distributed

PRECISIONS = ("fp32", "bf16")


@dataclass
class RunContext:
    """Where and how a job runs, the same for every loop it starts: the run ``folder``
    (checkpoints go there), whether to ``resume`` from them, ``precision`` (``fp32`` or
    ``bf16`` autocast of the forward), a checkpoint every ``checkpoint_every`` steps besides
    each epoch's end (0: epoch ends only), the progress bar, and the ``torchrun`` launch."""

    folder: Path | None = None
    resume: bool = False
    precision: str = "fp32"
    checkpoint_every: int = 0
    progress: bool = True
    device: str = "cpu"
    launch: Launch | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {self.precision!r}")
        if self.checkpoint_every < 0:
            raise ValueError(f"checkpoint_every must be >= 0, got {self.checkpoint_every}")

    def join(self) -> Launch:
        """This process's launch (joining the ``torchrun`` group on first use)."""
        if self.launch is None:
            self.launch = init_distributed(self.device)
        return self.launch

    @property
    def rank(self) -> int:
        return self.join().rank

    @property
    def world(self) -> int:
        return self.join().world_size

    @property
    def exchange(self) -> Exchange:
        """The exchange for a loss: across ranks under ``torchrun``, else local."""
        self.join()
        return exchange_for(True)

    def autocast(self) -> contextlib.AbstractContextManager:
        return torch.autocast(
            self.join().device.type, dtype=torch.bfloat16, enabled=self.precision == "bf16"
        )

    def checkpoint(self, name: str) -> Path | None:
        """The checkpoint file of the loop called ``name`` (none without a folder)."""
        if self.folder is None:
            return None
        slug = re.sub(r"[^A-Za-z0-9]+", "-", name).strip("-").lower()
        return Path(self.folder) / f"checkpoint-{slug}.safetensors"


class Task(Protocol):
    """What a job gives :class:`Loop`."""

    def modules(self) -> dict[str, nn.Module]:
        """Everything trained or stateful, by name: saved in checkpoints, restored on resume."""

    def batches(self, epoch: int, g: torch.Generator) -> list[Tensor]:
        """The plan of ``epoch`` (0-based): index batches over the training set."""

    def step(self, batch: Tensor, loop: Loop) -> Tensor:
        """The loss of this rank's share of ``batch``: random draws from ``loop.generator``,
        made for the whole batch and cut with ``loop.share``; cross-rank losses use
        ``loop.exchange``."""

    # Optional: ``end_epoch(epoch) -> bool`` after each epoch (1-based count of epochs done),
    # on every rank; True stops the run there (early stopping), and a resumed run stays
    # stopped.


@dataclass
class Schedule:
    """The optimisation budget: epochs, AdamW's learning rate and weight decay, warm-up.

    ``lr_scales`` multiplies the learning rate of the parameters under a name prefix of the
    task's modules (``{"encoder.projection": 20.0}``; the longest matching prefix wins), e.g.
    a freshly added head beside pretrained blocks. ``decay``: after the warm-up, cosine
    decay to zero (``"cosine"``) or a constant rate (``"none"``)."""

    epochs: int
    lr: float
    weight_decay: float = 1e-4
    warmup_epochs: float = 1.0
    seed: int = 0
    lr_scales: dict[str, float] = field(default_factory=dict)
    decay: str = "cosine"

    def parameter_groups(self, modules: nn.Module) -> list[dict[str, Any]]:
        """AdamW's parameter groups: the trainable parameters of ``modules`` by learning
        rate."""
        groups: dict[float, list[nn.Parameter]] = {}
        matched = set()
        for name, parameter in modules.named_parameters():
            if not parameter.requires_grad:
                continue
            prefixes = [p for p in self.lr_scales if name == p or name.startswith(p + ".")]
            matched.update(prefixes)
            scale = self.lr_scales[max(prefixes, key=len)] if prefixes else 1.0
            groups.setdefault(self.lr * scale, []).append(parameter)
        unknown = sorted(set(self.lr_scales) - matched)
        if unknown:
            raise ValueError(f"lr_scales name no trainable parameters: {unknown}")
        return [{"params": params, "lr": lr} for lr, params in groups.items()]


class Loop:
    """Trains one :class:`Task` under a :class:`Schedule` in a :class:`RunContext`.

    ``name`` labels the progress bar and names the checkpoint; ``identity`` is the settings
    a checkpoint must have been written with to be resumed; ``log`` receives one row per
    epoch (mean loss, learning rate, seconds, plus ``metrics(epoch)``)."""

    def __init__(
        self,
        task: Task,
        schedule: Schedule,
        context: RunContext,
        name: str = "train",
        identity: dict[str, Any] | None = None,
        log: MetricsLog | None = None,
        metrics: Callable[[int], dict[str, Any]] | None = None,
    ) -> None:
        self.task, self.schedule, self.context, self.name = task, schedule, context, name
        self.identity = dict(identity or {}, schedule=schedule.__dict__, loop=name)
        self.metrics = metrics
        self.rank, self.world = context.rank, context.world
        self.generator = torch.Generator().manual_seed(schedule.seed)
        self.step = 0
        self.stopped = False
        self.step_losses: list[float] = []
        self.plan: list[Tensor] = []
        self.part = slice(None)
        self.modules = task.modules()
        self._all = nn.ModuleDict(self.modules)
        groups = schedule.parameter_groups(self._all)
        if not groups:
            raise ValueError("nothing to train: no parameter requires grad")
        self.optimizer = torch.optim.AdamW(
            groups, lr=schedule.lr, weight_decay=schedule.weight_decay
        )
        self.path = context.checkpoint(name)
        resume = context.resume and self.path is not None and self.path.exists()
        self.plan_epoch = -1
        if resume:
            self.steps_per_epoch = read_metadata(self.path)["steps_per_epoch"]
        else:
            self.steps_per_epoch = len(self._plan(0))
        self.total_steps = schedule.epochs * self.steps_per_epoch
        warmup = round(schedule.warmup_epochs * self.steps_per_epoch)
        self.scheduler = warmup_cosine(self.optimizer, warmup, self.total_steps, schedule.decay)
        self.log = log or MetricsLog(None, tensorboard=False)
        if resume:
            self.log.history = self._restore()

    def _plan(self, epoch: int) -> list[Tensor]:
        self.plan, self.plan_epoch = self.task.batches(epoch, self.generator), epoch
        if not self.plan:
            raise ValueError(
                f"{self.name}: an epoch has no batch: the batch is larger than the data"
            )
        small = min(len(b) for b in self.plan)
        if small < self.world:
            raise ValueError(
                f"{self.name}: a batch of {small} cannot be shared by {self.world} ranks"
            )
        return self.plan

    @property
    def exchange(self) -> Exchange:
        return self.context.exchange

    def share(self, x: Tensor) -> Tensor:
        """This rank's rows of ``x``, a tensor drawn for the whole current batch."""
        return x[self.part]

    def _state(self) -> dict[str, Any]:
        plan = torch.cat(self.plan) if self.plan else torch.zeros(0, dtype=torch.long)
        return {
            "identity": self.identity,
            "step": self.step,
            "stopped": self.stopped,
            "step_losses": self.step_losses,
            "history": self.log.history,
            "steps_per_epoch": self.steps_per_epoch,
            "plan_epoch": self.plan_epoch,
            "plan": [len(b) for b in self.plan],
            "plan_ids": plan.tolist(),
            "generator": self.generator.get_state().tolist(),
            "torch_rng": torch.get_rng_state().tolist(),
        }

    def save(self) -> None:
        if self.path is not None and self.rank == 0:
            save_checkpoint(self.path, self.modules, self.optimizer, self.scheduler, self._state())

    def _restore(self) -> list[dict[str, Any]]:
        meta = load_checkpoint(self.path, self.modules, self.optimizer, self.scheduler)
        if meta.get("identity") != json.loads(json.dumps(self.identity)):
            raise ValueError(
                f"{self.path} was written by a run with other settings; use another --out"
            )
        self.step, self.step_losses = meta["step"], meta["step_losses"]
        self.stopped = bool(meta.get("stopped", False))
        ids = torch.tensor(meta["plan_ids"], dtype=torch.long)
        self.plan, self.plan_epoch = list(ids.split(meta["plan"])), meta["plan_epoch"]
        self.generator.set_state(torch.tensor(meta["generator"], dtype=torch.uint8))
        torch.set_rng_state(torch.tensor(meta["torch_rng"], dtype=torch.uint8))
        return meta["history"]

    def _batches(self) -> Iterator[tuple[int, Tensor]]:
        """(epoch, batch) from the current step to the end; a new epoch draws its plan."""
        while self.step < self.total_steps and not self.stopped:
            epoch, position = divmod(self.step, self.steps_per_epoch)
            if epoch != self.plan_epoch:
                self._plan(epoch)
            yield epoch, self.plan[position]

    def train_step(self, batch: Tensor) -> float:
        self.part = shard(len(batch), self.rank, self.world)
        with self.context.autocast():
            loss = self.task.step(batch, self)
        if not torch.isfinite(loss):
            raise FloatingPointError(
                f"{self.name}: the loss became {loss.item()} at step {self.step}"
            )
        self.optimizer.zero_grad(set_to_none=True)
        loss.float().backward()
        if self.world > 1:
            average_gradients(self._all)
        self.optimizer.step()
        after = getattr(self.task, "after_step", None)
        if after is not None:
            after()
        self.scheduler.step()
        self.step += 1
        value = loss.detach().float()
        if self.world > 1:  # each rank holds its share: the mean over ranks is the loss
            dist.all_reduce(value)
            value = value / self.world
        return float(value)

    def _row(self, epoch: int, seconds: float) -> dict[str, Any]:
        losses = self.step_losses[-self.steps_per_epoch :]
        row = {
            "epoch": epoch,
            "step": self.step,
            "loss": sum(losses) / len(losses),
            "lr": self.scheduler.get_last_lr()[0],
        }
        if self.metrics is not None:
            row.update(self.metrics(epoch))
        return row | {"seconds": round(seconds, 3)}

    def fit(self) -> list[dict[str, Any]]:
        """Train to the end of the schedule; returns the per-epoch history."""
        bar = tqdm(
            total=self.total_steps,
            initial=self.step,
            disable=not self.context.progress or self.rank != 0,
            desc=self.name,
            unit="step",
            leave=False,
        )
        every = self.context.checkpoint_every
        started = time.perf_counter()
        for epoch, batch in self._batches():
            self.step_losses.append(self.train_step(batch))
            bar.update(1)
            bar.set_postfix(epoch=epoch + 1, loss=f"{self.step_losses[-1]:.4f}")
            if self.step % self.steps_per_epoch == 0:
                end = getattr(self.task, "end_epoch", None)
                self.stopped = bool(end is not None and end(epoch + 1))
                if self.rank == 0:
                    self.log.add(self._row(epoch + 1, time.perf_counter() - started))
                started = time.perf_counter()
                self.save()
            elif every and self.step % every == 0:
                self.save()
        bar.close()
        self.log.close()
        return self.log.history
