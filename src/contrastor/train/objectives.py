"""Which loss a training run uses, and how a batch reaches it: an :class:`Objective` owns the
loss and whatever the method keeps beside it (predictor, momentum encoder, queue, per-sample
state), so the optimizer and the checkpoint see all of it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from contrastor import losses as L
from contrastor.engine.output import ContrastiveOutput
from contrastor.engine.temperature import Temperature
from contrastor.models.heads import ProjectionHead
from contrastor.state.momentum import MomentumEncoder
from contrastor.train.config import TrainConfig
from contrastor.train.robust import RobustTraining


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


def _all_views(o: Objective, b: Batch, **kw: Any) -> Tensor:
    return o.loss(*b.z, **kw)


def _pair(o: Objective, b: Batch, **kw: Any) -> Tensor:
    return o.loss(b.z[0], b.z[1], **kw)


def _labelled(o: Objective, b: Batch, **kw: Any) -> Tensor:
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
    return ContrastiveOutput(
        0.5 * (first.per_anchor + second.per_anchor),
        first.mask | second.mask,
        {},
        0.5 * (first.loss + second.loss),
    )


def _predict_target(o: Objective, b: Batch) -> Tensor:
    t1, t2 = o.keys(b.views)
    return o.loss(o.predictor(b.z[0]), o.predictor(b.z[1]), t1, t2)


def _predict_self(o: Objective, b: Batch) -> Tensor:
    return o.loss(o.predictor(b.z[0]), o.predictor(b.z[1]), b.z[0], b.z[1])


def build_objective(
    config: TrainConfig, model: nn.Module, dataset_size: int, distributed: bool = False
) -> Objective:
    """The objective for ``config.loss`` on ``model`` trained over ``dataset_size`` samples;
    ``distributed``: the loss contrasts local anchors with the batches of all ranks."""
    t, e = config.temperature, config.embedding_dim
    g = {"gather_distributed": distributed}
    kw = {"learnable_temperature": config.learnable_temperature, **g}
    queue = {"queue_size": min(1024, dataset_size), "dim": e, **kw}
    mixing = {"hardest": 128, "mixed": 32, "query_mixed": 16}
    heads = 4 if e % 4 == 0 else 1  # AMCL's heads and WhitenedCSE's groups split the projection

    def momentum() -> MomentumEncoder:
        return MomentumEncoder(model, momentum=0.99)

    def predictor() -> nn.Module:
        return ProjectionHead(e, 256, e)

    table: dict[str, Callable[[], Objective]] = {
        "ntxent": lambda: Objective(L.NTXent(t, **kw), _all_views),
        "dcl": lambda: Objective(L.DCL(t, **kw), _all_views),
        "dclw": lambda: Objective(L.DCLW(t, **kw), _all_views),
        "supcon": lambda: Objective(L.SupCon(t, **kw), _labelled),
        "infonce": lambda: Objective(L.InfoNCE(t, **kw), _pair),
        "clip": lambda: Objective(L.InfoNCE(t, symmetric=True, **kw), _pair),
        "siglip": lambda: Objective(
            L.SigLIP(t, learnable=config.learnable_temperature, **g), _pair
        ),
        "align_uniform": lambda: Objective(L.AlignUniform(**g), _pair),
        "debiased": lambda: Objective(L.DebiasedContrastive(t, class_prior=0.1, **kw), _all_views),
        "hcl": lambda: Objective(
            L.DebiasedContrastive(t, class_prior=0.1, concentration=1.0, **kw), _all_views
        ),
        "cacr": lambda: Objective(L.CACR(repulsion_temperature=1.0 / t, **g), _all_views),
        "mv_infonce": lambda: Objective(L.MVInfoNCE(t, **kw), _all_views),
        "mv_dhel": lambda: Objective(L.MVDHEL(t, **kw), _all_views),
        "sogclr": lambda: Objective(
            L.GlobalContrastive(dataset_size, t, views=config.views, **g), _indexed
        ),
        "isogclr": lambda: Objective(
            L.GlobalContrastive(
                dataset_size, t, views=config.views, individual_temperature=True, **g
            ),
            _indexed,
        ),
        "moco": lambda: Objective(L.MoCo(t, **queue), _momentum_keys, target=momentum()),
        "mochi": lambda: Objective(
            L.MoCo(t, mixing=mixing, **queue), _momentum_keys, target=momentum()
        ),
        "byol": lambda: Objective(
            L.PredictiveCosine(), _predict_target, target=momentum(), predictor=predictor()
        ),
        "simsiam": lambda: Objective(L.PredictiveCosine(), _predict_self, predictor=predictor()),
        "directpred": lambda: Objective(
            L.PredictiveCosine(),
            _predict_target,
            target=momentum(),
            predictor=L.DirectPredictor(e, **g),
        ),
        "clip_gap": lambda: Objective(L.ContrastiveGap(t, **kw), _pair),
        "symile": lambda: Objective(L.Symile(t, modalities=config.views, dim=e, **kw), _all_views),
        "decoupled_softmax": lambda: Objective(L.DecoupledSoftmax(t, **kw), _labelled_pair),
        "auc": lambda: Objective(L.MannWhitney(t, **kw), _pair),
        "sbcl": lambda: Objective(
            L.SBCL(dataset_size, t, subclass_size=max(10, dataset_size // 40), **kw),
            _labelled_indexed,
        ),
        "whitened": lambda: Objective(L.WhitenedContrastive(t, groups=heads, **kw), _all_views),
        "amcl": lambda: Objective(L.AMCL(e // heads, heads), _pair),
        "rince": lambda: Objective(L.RINCE(t, **kw), _pair),
        "barlow_twins": lambda: Objective(L.BarlowTwins(**g), _pair),
        "vicreg": lambda: Objective(L.VICReg(**g), _pair),
    }
    objective = table[config.loss]()
    if config.robust != "none":
        objective.robust = RobustTraining(
            config.robust, dataset_size, config.robust_warmup, distributed
        )
    return objective
