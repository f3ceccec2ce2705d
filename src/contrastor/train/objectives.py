"""Which loss a training run uses, and how a batch reaches it: an :class:`Objective` owns the
loss and whatever the method keeps beside it (predictor, momentum encoder, queue, per-sample
state), so the optimizer and the checkpoint see all of it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import torch
from torch import Tensor, nn

from contrastor import losses as L
from contrastor.engine.output import ContrastiveOutput, average_directions
from contrastor.engine.temperature import Temperature
from contrastor.losses.registry import LossSpec, Task, lookup
from contrastor.models.heads import ProjectionHead
from contrastor.noise.training import RobustTraining
from contrastor.state.momentum import MomentumEncoder
from contrastor.train.config import TrainConfig


@dataclass
class Batch:
    """One rank's share of a training batch: ``z`` the projections of each view, ``views``
    the view images, ``labels`` and dataset ``index`` of the samples."""

    z: list[Tensor]
    views: list[Tensor]
    labels: Tensor
    index: Tensor


Feed = Callable[..., "Tensor | ContrastiveOutput"]


class Objective(nn.Module):
    """``loss`` fed by ``feed``; ``target`` (a momentum copy of the model) and ``predictor``
    when the method has them. :meth:`after_step` runs after every optimizer step."""

    def __init__(
        self,
        loss: nn.Module,
        feed: Feed,
        target: MomentumEncoder | None = None,
        predictor: nn.Module | None = None,
    ) -> None:
        super().__init__()
        self.loss, self.feed = loss, feed
        self.target, self.predictor = target, predictor
        self.robust: RobustTraining | None = None

    def forward(self, batch: Batch) -> Tensor:
        if self.robust is None:
            return self.feed(self, batch)
        weights = self.robust.weights(batch.index).to(batch.z[0])
        batch = replace(batch, labels=self.robust.labels(batch.index, batch.labels))
        output = self.feed(self, batch, weights=weights, return_output=True)
        self.robust.observe(batch.index, output.per_anchor.detach())
        return output.loss

    @torch.no_grad()
    def after_step(self, model: nn.Module) -> None:
        if self.target is not None:
            self.target.update(model)

    @torch.no_grad()
    def before_epoch(self, epoch: int, embeddings: Callable[[], Tensor], labels: Tensor) -> None:
        """Run at the start of every epoch: losses that cluster the training set (SBCL)
        re-cluster ``embeddings()`` (projections of all training samples, in index order)."""
        recluster = getattr(self.loss, "recluster", None)
        if recluster is not None:
            recluster(embeddings(), labels, seed=epoch)
        if self.robust is not None:
            self.robust.refresh(epoch, embeddings, labels)

    @property
    def temperature(self) -> Temperature | None:
        """The loss's temperature module, for logging (``None`` if it has none)."""
        value = getattr(self.loss, "temperature", None)
        return value if isinstance(value, Temperature) else None

    def keys(self, views: list[Tensor]) -> list[Tensor]:
        """The momentum target's projections of each view."""
        return [self.target(v).float() for v in views]


def _views(o: Objective, b: Batch, **kw: Any) -> Tensor:
    return o.loss(*b.z, **kw)


def _pair(o: Objective, b: Batch, **kw: Any) -> Tensor:
    return o.loss(b.z[0], b.z[1], **kw)


def _labelled_views(o: Objective, b: Batch, **kw: Any) -> Tensor:
    return o.loss(torch.stack(b.z, 1), b.labels, **kw)


def _labelled_pair(o: Objective, b: Batch, **kw: Any) -> Tensor:
    return o.loss(b.z[0], b.z[1], labels=b.labels, **kw)


def _labelled_indexed(o: Objective, b: Batch, **kw: Any) -> Tensor:
    return o.loss(torch.stack(b.z, 1), b.labels, index=b.index, **kw)


def _indexed(o: Objective, b: Batch, **kw: Any) -> Tensor:
    return o.loss(*b.z, index=b.index, **kw)


def _momentum_keys(o: Objective, b: Batch, **kw: Any) -> Tensor | ContrastiveOutput:
    k1, k2 = o.keys(b.views)
    first, second = o.loss(b.z[0], k2, **kw), o.loss(b.z[1], k1, **kw)
    if not isinstance(first, ContrastiveOutput):
        return 0.5 * (first + second)
    return average_directions(first, second)


def _predict_target(o: Objective, b: Batch) -> Tensor:
    t1, t2 = o.keys(b.views)
    return o.loss(o.predictor(b.z[0]), o.predictor(b.z[1]), t1, t2)


def _predict_self(o: Objective, b: Batch) -> Tensor:
    return o.loss(o.predictor(b.z[0]), o.predictor(b.z[1]), b.z[0], b.z[1])


#: the registry's feed names (:data:`contrastor.losses.registry.FEEDS`) and what they do
FEEDS: dict[str, Feed] = {
    "views": _views,
    "pair": _pair,
    "labelled_views": _labelled_views,
    "labelled_pair": _labelled_pair,
    "labelled_indexed": _labelled_indexed,
    "indexed": _indexed,
    "momentum_keys": _momentum_keys,
    "predict_target": _predict_target,
    "predict_self": _predict_self,
}


def task_of(config: TrainConfig, dataset_size: int, distributed: bool = False) -> Task:
    """What a loss is told about the image task (:class:`~contrastor.losses.registry.Task`)."""
    return Task(
        temperature=config.temperature,
        learnable_temperature=config.learnable_temperature,
        embedding_dim=config.embedding_dim,
        views=config.views,
        dataset_size=dataset_size,
        batch_size=config.batch_size,
        distributed=distributed,
    )


def _target(
    spec: LossSpec, model: nn.Module, config: TrainConfig, dataset_size: int
) -> MomentumEncoder | None:
    """The momentum target the spec asks for (base momentum ``config.momentum``, or the
    spec's when 0), its momentum ramped to 1 over the run if the spec says so."""
    if not spec.target:
        return None
    base, ramp = spec.momentum
    base = config.momentum or base
    steps = config.epochs * max(1, dataset_size // config.batch_size) if ramp else None
    return MomentumEncoder(model, momentum=base, total_steps=steps)


def build_objective(
    config: TrainConfig, model: nn.Module, dataset_size: int, distributed: bool = False
) -> Objective:
    """The objective for ``config.loss`` on ``model`` trained over ``dataset_size`` samples,
    as its registry entry declares it; ``distributed``: the loss contrasts local anchors with
    the batches of all ranks."""
    spec = lookup(config.loss)
    if spec.feed is None:
        raise ValueError(f"loss {spec.name!r} cannot train on the image task: {spec.unfit}")
    task = task_of(config, dataset_size, distributed)
    e = config.embedding_dim
    predictor = {
        None: None,
        "head": lambda: ProjectionHead(e, config.predictor_hidden or 256, e),
        "directpred": lambda: L.DirectPredictor(e, gather_distributed=distributed),
    }[spec.predictor]
    objective = Objective(
        spec.build(task),
        FEEDS[spec.feed],
        target=_target(spec, model, config, dataset_size),
        predictor=None if predictor is None else predictor(),
    )
    if config.robust != "none":
        objective.robust = RobustTraining(
            config.robust, dataset_size, config.robust_warmup, distributed, config.robust_k
        )
    return objective
