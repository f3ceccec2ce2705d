"""Time-series recipe: contrastive pre-training (NT-Xent over two augmented views) of a 1-D
convolutional encoder on each UCR/UEA set's training split, then kNN and linear-probe
accuracy on its official test split, against the raw series and the untrained encoder."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

import contrastor.functional as CF
from contrastor.data.timeseries import UCR, SeriesDataset, SeriesSplit, load_series
from contrastor.data.views.timeseries import SeriesViews
from contrastor.eval import embed_in_chunks, feature_accuracy
from contrastor.models import ContrastiveModel, Conv1dEncoder
from contrastor.recipes.base import Recipe, RecipeResult
from contrastor.recipes.loop import fit, merge_histories, shuffled_batches
from contrastor.run.loop import Loop, RunContext


@dataclass
class TimeSeriesOptions:
    """``datasets``: comma-separated names from ``gunpoint, arrowhead, italy_power_demand,
    basic_motions, japanese_vowels``; each is pre-trained and evaluated on its own. ``crop``
    ... ``mask`` set the views (:class:`~contrastor.data.views.SeriesViews`); segment
    permutation is off by default (``segments=1``): on GunPoint and ArrowHead it costs
    accuracy, as the order of a shape matters there."""

    datasets: str = ",".join(UCR)
    epochs: int = 150
    batch_size: int = 64
    lr: float = 1e-3
    temperature: float = 0.2
    width: int = 32
    embedding_dim: int = 64
    knn_k: int = 5
    crop: float = 0.8
    segments: int = 1
    scaling: float = 0.1
    jitter: float = 0.03
    mask: float = 0.1
    seed: int = 0

    def names(self) -> list[str]:
        return [n.strip() for n in self.datasets.split(",") if n.strip()]

    def validate(self) -> None:
        unknown = [n for n in self.names() if n not in UCR]
        if unknown or not self.names():
            raise ValueError(f"datasets must be names from {list(UCR)}, got {self.datasets!r}")


def _encoder(data: SeriesDataset, options: TimeSeriesOptions) -> ContrastiveModel:
    encoder = Conv1dEncoder(data.channels, options.width, 128)
    return ContrastiveModel(encoder, encoder.feature_dim, options.embedding_dim)


def _features(model: ContrastiveModel, split: SeriesSplit) -> Tensor:
    return embed_in_chunks(
        model, lambda i: model.encoder(split.x[i], split.lengths[i]), torch.arange(len(split.y))
    )


def pretrain(
    data: SeriesDataset, options: TimeSeriesOptions, context: RunContext
) -> tuple[ContrastiveModel, ContrastiveModel, list[dict[str, float]]]:
    """The untrained and the pre-trained encoder (same initialisation) and the history."""
    torch.manual_seed(options.seed)
    untrained, model = _encoder(data, options), _encoder(data, options)
    model.load_state_dict(untrained.state_dict())
    views = SeriesViews(
        options.crop, options.segments, options.scaling, options.jitter, options.mask
    )
    train = data.train

    def step(index: Tensor, loop: Loop) -> Tensor:
        x, n = train.x[index], train.lengths[index]
        mine = loop.share(n)
        z = [
            model.head(model.encoder(loop.share(views(x, n, loop.generator)), mine))
            for _ in range(2)
        ]
        return CF.nt_xent(z, temperature=options.temperature, exchange=loop.exchange)

    history = fit(
        {"model": model},
        shuffled_batches(len(train.y), min(options.batch_size, len(train.y))),
        step,
        epochs=options.epochs,
        lr=options.lr,
        warmup_epochs=0.05 * options.epochs,
        seed=options.seed,
        context=context,
        label=f"NT-Xent on {data.name}",
    )
    return untrained, model, history


def run(options: TimeSeriesOptions, context: RunContext) -> RecipeResult:
    table: dict[str, dict[str, float]] = {}
    histories: dict[str, list[dict[str, float]]] = {}
    modules = {}
    for name in options.names():
        data = load_series(name)
        untrained, model, histories[name] = pretrain(data, options, context)
        modules[name] = model
        train, test = data.train, data.test
        k = min(options.knn_k, len(train.y))
        table[f"{name}: raw series"] = feature_accuracy(
            train.x.flatten(1), train.y, test.x.flatten(1), test.y, k
        )
        for label, net in (("untrained encoder", untrained), ("trained encoder", model)):
            table[f"{name}: {label}"] = feature_accuracy(
                _features(net, train), train.y, _features(net, test), test.y, k
            )
    history = merge_histories(histories)
    return RecipeResult(table, history, modules)


RECIPE = Recipe(
    name="timeseries",
    summary="NT-Xent with crop/scaling/jitter/mask views, 1-D CNN, UCR/UEA sets",
    options=TimeSeriesOptions,
    run=run,
    tiny={"datasets": "gunpoint,japanese_vowels", "epochs": 2, "width": 8, "embedding_dim": 16},
    first_column="dataset: features",
    needs={"sktime": "pip install 'contrastor[timeseries]'"},
)
