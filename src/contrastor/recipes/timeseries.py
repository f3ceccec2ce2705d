"""Time-series recipe: contrastive pre-training (NT-Xent over two augmented views) of a 1-D
convolutional encoder on each UCR/UEA set's training split, then kNN and linear-probe
accuracy on its official test split, against the raw series and the untrained encoder; or
the same on your own series file with a held-out split (without labels: alignment,
uniformity and effective rank of held-out series against a view)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

import contrastor.functional as CF
from contrastor.data.files import DataOptions
from contrastor.data.timeseries import UCR, SeriesDataset, SeriesSplit, load_series, read_series
from contrastor.data.views.timeseries import SeriesViews
from contrastor.eval import embed_in_chunks, feature_accuracy, view_geometry
from contrastor.models import ContrastiveModel, Conv1dEncoder
from contrastor.recipes.base import Recipe, RecipeResult
from contrastor.recipes.loop import fit, merge_histories, shuffled_batches
from contrastor.run.loop import Loop, RunContext


@dataclass
class TimeSeriesOptions(DataOptions):
    """``datasets``: comma-separated names from ``gunpoint, arrowhead, italy_power_demand,
    basic_motions, japanese_vowels``; each is pre-trained and evaluated on its own; ``data``:
    your own series file instead (``test_fraction`` held out). ``crop``
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
    test_fraction: float = 0.3
    seed: int = 0

    def names(self) -> list[str]:
        return [n.strip() for n in self.datasets.split(",") if n.strip()]

    def validate(self) -> None:
        self.validate_data("series")
        unknown = [n for n in self.names() if n not in UCR]
        if unknown or not self.names():
            raise ValueError(f"datasets must be names from {list(UCR)}, got {self.datasets!r}")


def _encoder(data: SeriesDataset, options: TimeSeriesOptions) -> ContrastiveModel:
    encoder = Conv1dEncoder(data.channels, options.width, 128)
    return ContrastiveModel(encoder, encoder.feature_dim, options.embedding_dim)


def _views(options: TimeSeriesOptions) -> SeriesViews:
    return SeriesViews(
        options.crop, options.segments, options.scaling, options.jitter, options.mask
    )


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
    views = _views(options)
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
        shuffled_batches(len(train.x), min(options.batch_size, len(train.x))),
        step,
        epochs=options.epochs,
        lr=options.lr,
        warmup_epochs=0.05 * options.epochs,
        seed=options.seed,
        context=context,
        label=f"NT-Xent on {data.name}",
    )
    return untrained, model, history


def _datasets(options: TimeSeriesOptions, notes: list[str]) -> list[SeriesDataset]:
    if not options.data:
        return [load_series(name) for name in options.names()]
    data, problems = read_series(
        options.data, options.test_fraction, options.seed, skip_bad_rows=options.skip_bad_rows
    )
    notes += problems.notes()
    return [data]


def _unlabelled(
    name: str, test: SeriesSplit, nets: dict[str, ContrastiveModel], options: TimeSeriesOptions
) -> dict[str, dict[str, float]]:
    """Held-out geometry against one view of each series (no labels to score)."""
    views = _views(options)
    view = SeriesSplit(
        views(test.x, test.lengths, torch.Generator().manual_seed(options.seed)),
        test.lengths,
        None,
    )
    table = {f"{name}: raw series": view_geometry(test.x.flatten(1), view.x.flatten(1))}
    for label, net in nets.items():
        table[f"{name}: {label}"] = view_geometry(_features(net, test), _features(net, view))
    return table


def run(options: TimeSeriesOptions, context: RunContext) -> RecipeResult:
    table: dict[str, dict[str, float]] = {}
    histories: dict[str, list[dict[str, float]]] = {}
    modules, notes = {}, []
    for data in _datasets(options, notes):
        name = data.name
        untrained, model, histories[name] = pretrain(data, options, context)
        modules[name] = model
        train, test = data.train, data.test
        nets = {"untrained encoder": untrained, "trained encoder": model}
        if train.y is None or test.y is None:
            table |= _unlabelled(name, test, nets, options)
            notes.append(f"{name} has no labels: the table measures held-out geometry.")
            continue
        k = min(options.knn_k, len(train.y))
        table[f"{name}: raw series"] = feature_accuracy(
            train.x.flatten(1), train.y, test.x.flatten(1), test.y, k
        )
        for label, net in nets.items():
            table[f"{name}: {label}"] = feature_accuracy(
                _features(net, train), train.y, _features(net, test), test.y, k
            )
    history = merge_histories(histories)
    return RecipeResult(table, history, modules, notes)


RECIPE = Recipe(
    name="timeseries",
    summary="NT-Xent with crop/scaling/jitter/mask views, 1-D CNN, UCR/UEA sets",
    options=TimeSeriesOptions,
    run=run,
    tiny={"datasets": "gunpoint,japanese_vowels", "epochs": 2, "width": 8, "embedding_dim": 16},
    first_column="dataset: features",
    needs={"sktime": "pip install 'contrastor[timeseries]'"},
)
