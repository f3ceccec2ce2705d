"""Which loss a training run uses, and how a batch of views is fed to it."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

from contrastor import losses as L
from contrastor.train.config import TrainConfig

#: name -> (builder, how views and labels reach the loss, one-line description)
Feed = Callable[[nn.Module, list[Tensor], Tensor], Tensor]


def _all_views(loss: nn.Module, views: list[Tensor], labels: Tensor) -> Tensor:
    return loss(*views)


def _pair(loss: nn.Module, views: list[Tensor], labels: Tensor) -> Tensor:
    return loss(views[0], views[1])


def _labelled(loss: nn.Module, views: list[Tensor], labels: Tensor) -> Tensor:
    return loss(torch.stack(views, 1), labels)


def build_objective(config: TrainConfig, distributed: bool = False) -> tuple[nn.Module, Feed]:
    """The loss module for ``config.loss`` and the function that applies it to views;
    ``distributed``: the loss contrasts local anchors with the batches of all ranks."""
    t = config.temperature
    kw = {"learnable_temperature": config.learnable_temperature, "gather_distributed": distributed}
    table: dict[str, tuple[Callable[[], nn.Module], Feed]] = {
        "ntxent": (lambda: L.NTXent(t, **kw), _all_views),
        "dcl": (lambda: L.DCL(t, **kw), _all_views),
        "dclw": (lambda: L.DCLW(t, **kw), _all_views),
        "supcon": (lambda: L.SupCon(t, **kw), _labelled),
        "infonce": (lambda: L.InfoNCE(t, **kw), _pair),
        "clip": (lambda: L.InfoNCE(t, symmetric=True, **kw), _pair),
        "siglip": (
            lambda: L.SigLIP(
                t, learnable=config.learnable_temperature, gather_distributed=distributed
            ),
            _pair,
        ),
        "align_uniform": (lambda: L.AlignUniform(gather_distributed=distributed), _pair),
    }
    build, feed = table[config.loss]
    return build(), feed
