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


def build_objective(config: TrainConfig) -> tuple[nn.Module, Feed]:
    """The loss module for ``config.loss`` and the function that applies it to views."""
    t, learn = config.temperature, config.learnable_temperature
    table: dict[str, tuple[Callable[[], nn.Module], Feed]] = {
        "ntxent": (lambda: L.NTXent(t, learnable_temperature=learn), _all_views),
        "dcl": (lambda: L.DCL(t, learnable_temperature=learn), _all_views),
        "dclw": (lambda: L.DCLW(t, learnable_temperature=learn), _all_views),
        "supcon": (lambda: L.SupCon(t, learnable_temperature=learn), _labelled),
        "infonce": (lambda: L.InfoNCE(t, learnable_temperature=learn), _pair),
        "clip": (lambda: L.InfoNCE(t, symmetric=True, learnable_temperature=learn), _pair),
        "siglip": (lambda: L.SigLIP(t, learnable=learn), _pair),
        "align_uniform": (lambda: L.AlignUniform(), _pair),
    }
    build, feed = table[config.loss]
    return build(), feed
