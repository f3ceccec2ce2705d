"""Time-series recipe: TS2Vec pre-training (Yue et al., AAAI 2022: overlapping crops,
timestamp masking, the hierarchical contrastive loss, a dilated convolutional encoder whose
weights are averaged over every step, as the authors' code evaluates them) on
each UCR/UEA set's training split, evaluated with the field's protocol on its official test
split: 1-nearest-neighbour and an RBF SVM (C by cross-validation on the training split) on
the frozen representations, beside 1-NN with Euclidean distance and with dynamic time
warping on the raw series, an SVM on the raw series, ROCKET (when sktime can run it) and the
untrained encoder. On your own series file: a held-out split (without labels: alignment,
uniformity and effective rank of held-out series against a view)."""

from __future__ import annotations

import math
from dataclasses import dataclass, fields, replace

import torch
from torch import Tensor
from torch.optim.swa_utils import AveragedModel

import contrastor.functional as CF
from contrastor.data.files import DataOptions
from contrastor.data.timeseries import UCR, SeriesDataset, SeriesSplit, load_series, read_series
from contrastor.data.views.timeseries import OverlappingCrops, SeriesViews
from contrastor.eval import embed_in_chunks, view_geometry
from contrastor.eval.series import (
    leave_one_out_accuracy,
    nearest_neighbour_accuracy,
    nearest_neighbour_predict,
    svm_predict,
)
from contrastor.models.temporal import DilatedConvEncoder
from contrastor.recipes.base import Recipe, RecipeResult
from contrastor.recipes.loop import fit, merge_histories, shuffled_batches
from contrastor.run.loop import Loop, RunContext
from contrastor.run.schedule import DECAYS


@dataclass
class TimeSeriesOptions(DataOptions):
    """``datasets``: comma-separated names from ``gunpoint, arrowhead, italy_power_demand,
    basic_motions, japanese_vowels``; each is pre-trained and evaluated on its own; ``data``:
    your own series file instead (``test_fraction`` held out). TS2Vec's published settings:
    ``iterations`` steps of ``batch_size`` series (``epochs`` > 0 sets the epochs instead),
    AdamW at ``lr`` with ``weight_decay`` (``lr_decay``: ``none`` keeps the rate constant,
    as the authors' code does; ``cosine`` decays it to zero, as earlier versions of this
    recipe did), an encoder of ``hidden`` channels, ``depth`` dilated blocks and
    ``embedding_dim`` outputs per step, each projected step zeroed with
    probability ``mask``, ``alpha`` between the instance and temporal terms; ``average``:
    evaluate the equal-weight average of the encoder's weights over the initial and every
    later step (stochastic weight averaging, as the authors' code does), not the last step's.
    ``baselines``: also the slower reference rows (1-NN DTW and ROCKET). ``candidates``:
    other settings to choose from on the training split alone, ``;``-separated, each a
    ``,``-separated list of ``option=value`` (``"mask=0.25;iterations=600,mask=0.25"``):
    every dataset is pre-trained with these options and with each candidate, and the
    encoder whose training representations give the best leave-one-out 1-NN accuracy on the
    training labels is evaluated (a tie keeps the earlier one, these options first)."""

    datasets: str = ",".join(UCR)
    iterations: int = 200
    epochs: int = 0
    batch_size: int = 8
    lr: float = 1e-3
    weight_decay: float = 1e-2
    lr_decay: str = "none"
    average: bool = True
    hidden: int = 64
    depth: int = 10
    embedding_dim: int = 320
    mask: float = 0.5
    alpha: float = 0.5
    baselines: bool = True
    candidates: str = ""
    test_fraction: float = 0.3
    seed: int = 0

    def names(self) -> list[str]:
        return [n.strip() for n in self.datasets.split(",") if n.strip()]

    def alternatives(self) -> list[tuple[str, TimeSeriesOptions]]:
        """These options (labelled ``as given``) and each of ``candidates``, validated."""
        import yaml

        out: list[tuple[str, TimeSeriesOptions]] = [("as given", self)]
        names = {f.name for f in fields(self)} - {"candidates", "datasets", "data", "seed"}
        for text in (c.strip() for c in self.candidates.split(";")):
            if not text:
                continue
            changes = {}
            for item in text.split(","):
                key, sep, value = item.partition("=")
                if not sep or key.strip() not in names:
                    raise ValueError(
                        f"candidate {text!r}: each item must be option=value with an option "
                        f"of {sorted(names)}"
                    )
                changes[key.strip()] = yaml.safe_load(value)
            candidate = replace(self, candidates="", **changes)
            candidate.validate()
            out.append((text, candidate))
        return out

    def validate(self) -> None:
        self.validate_data("series")
        unknown = [n for n in self.names() if n not in UCR]
        if unknown or not self.names():
            raise ValueError(f"datasets must be names from {list(UCR)}, got {self.datasets!r}")
        if self.iterations < 1 or self.epochs < 0 or self.batch_size < 2:
            raise ValueError("iterations must be >= 1, epochs >= 0 and batch_size >= 2")
        if self.weight_decay < 0:
            raise ValueError(f"weight_decay must be >= 0, got {self.weight_decay}")
        if not 0 <= self.mask < 1 or not 0 <= self.alpha <= 1:
            raise ValueError("mask must be in [0, 1) and alpha in [0, 1]")
        if self.lr_decay not in DECAYS:
            raise ValueError(f"lr_decay must be one of {DECAYS}, got {self.lr_decay!r}")
        self.alternatives()


def _encoder(data: SeriesDataset, options: TimeSeriesOptions) -> DilatedConvEncoder:
    return DilatedConvEncoder(data.channels, options.hidden, options.embedding_dim, options.depth)


def _features(model: DilatedConvEncoder, split: SeriesSplit) -> Tensor:
    return embed_in_chunks(
        model, lambda i: model.pooled(split.x[i], split.lengths[i]), torch.arange(len(split.x))
    )


def pretrain(
    data: SeriesDataset, options: TimeSeriesOptions, context: RunContext, tag: str = ""
) -> tuple[DilatedConvEncoder, DilatedConvEncoder, list[dict[str, float]]]:
    """The untrained and the pre-trained encoder (same initialisation; with ``average``
    its weight average) and the history."""
    torch.manual_seed(options.seed)
    untrained, model = _encoder(data, options), _encoder(data, options)
    model.load_state_dict(untrained.state_dict())
    parts: dict[str, torch.nn.Module] = {"model": model}
    if options.average:
        parts["average"] = average = AveragedModel(model)
        average.requires_grad_(False)
        average.update_parameters(model)
    train, crops = data.train, OverlappingCrops()
    batch = min(options.batch_size, len(train.x))
    epochs = options.epochs or math.ceil(options.iterations / (len(train.x) // batch))

    def step(index: Tensor, loop: Loop) -> Tensor:
        pair = crops(train.x[index], train.lengths[index], loop.generator)
        r = []
        for view in (pair.first, pair.second):
            keep = torch.rand(view.shape[0], view.shape[2], generator=loop.generator)
            r.append(model(loop.share(view), keep=loop.share(keep >= options.mask)))
        first, second = r[0][:, -pair.overlap :], r[1][:, : pair.overlap]
        return CF.hierarchical_contrastive(first, second, alpha=options.alpha)

    history = fit(
        parts,
        shuffled_batches(len(train.x), batch),
        step,
        epochs=epochs,
        lr=options.lr,
        weight_decay=options.weight_decay,
        warmup_epochs=0.0,
        seed=options.seed,
        context=context,
        label=f"TS2Vec on {data.name}{tag}",
        after_step=(lambda: average.update_parameters(model)) if options.average else None,
        decay=options.lr_decay,
    )
    return untrained, average.module if options.average else model, history


def pretrain_and_choose(
    data: SeriesDataset, options: TimeSeriesOptions, context: RunContext
) -> tuple[DilatedConvEncoder, DilatedConvEncoder, list[dict[str, float]], str]:
    """:func:`pretrain` with ``options`` and with each of its ``candidates``; the encoder with
    the best leave-one-out 1-NN accuracy of its training representations is kept (the
    training labels only). Returns it as :func:`pretrain` does, and a note of the scores
    (empty without candidates)."""
    settings = options.alternatives()
    if len(settings) == 1:
        return (*pretrain(data, options, context), "")
    if data.train.y is None:
        raise ValueError("candidates are chosen with the training labels: this data has none")
    runs = []
    for i, (label, candidate) in enumerate(settings):
        untrained, model, history = pretrain(data, candidate, context, f" candidate {i}")
        score = leave_one_out_accuracy(_features(model, data.train), data.train.y)
        runs.append((score, -i, label, untrained, model, history))
    _, _, label, untrained, model, history = max(runs, key=lambda run: run[:2])
    scores = "; ".join(f"{run[2]} {run[0]:.3f}" for run in runs)
    note = (
        f"{data.name}: {label} chosen by leave-one-out 1-NN accuracy on the training split "
        f"({scores})."
    )
    return untrained, model, history, note


def _datasets(options: TimeSeriesOptions, notes: list[str]) -> list[SeriesDataset]:
    if not options.data:
        return [load_series(name) for name in options.names()]
    data, problems = read_series(
        options.data, options.test_fraction, options.seed, skip_bad_rows=options.skip_bad_rows
    )
    notes += problems.notes()
    return [data]


def _unlabelled(
    name: str, test: SeriesSplit, nets: dict[str, DilatedConvEncoder], seed: int
) -> dict[str, dict[str, float]]:
    """Held-out geometry against one jittered, scaled, masked view of each series (no labels
    to score)."""
    views = SeriesViews(crop=1.0, segments=1)
    view = SeriesSplit(
        views(test.x, test.lengths, torch.Generator().manual_seed(seed)), test.lengths, None
    )
    table = {f"{name}: raw series": view_geometry(test.x.flatten(1), view.x.flatten(1))}
    for label, net in nets.items():
        table[f"{name}: {label}"] = view_geometry(_features(net, test), _features(net, view))
    return table


def protocol(
    train: Tensor, train_y: Tensor, test: Tensor, test_y: Tensor, seed: int
) -> tuple[dict[str, float], dict[str, list[int]]]:
    """1-NN (Euclidean) and RBF-SVM test accuracy of frozen vectors, and for each whether it
    got every test series right (1) or not (0), in test order, for paired tests."""
    predicted = {
        "nn_accuracy": nearest_neighbour_predict(train, train_y, test),
        "svm_accuracy": svm_predict(train, train_y, test, seed=seed)[0],
    }
    correct = {k: (p == test_y.long()).int().tolist() for k, p in predicted.items()}
    return {k: sum(c) / len(c) for k, c in correct.items()}, correct


def baselines(data: SeriesDataset, seed: int) -> dict[str, dict[str, float]]:
    """The raw-series reference rows: 1-NN with dynamic time warping, and ROCKET (10,000
    random kernels and a ridge classifier, Dempster et al. 2020) where sktime can run it."""
    train, test = data.train, data.test
    dtw = nearest_neighbour_accuracy(
        train.x,
        train.y,
        test.x,
        test.y,
        distance="dtw",
        train_lengths=train.lengths,
        test_lengths=test.lengths,
    )
    rows = {f"{data.name}: raw series, DTW": {"nn_accuracy": dtw}}
    try:
        import numba  # noqa: F401  (sktime's ROCKET compiles its kernels with numba)
        from sktime.transformations.panel.rocket import Rocket
    except ImportError:
        return rows
    import numpy as np
    from sklearn.linear_model import RidgeClassifierCV

    rocket = Rocket(num_kernels=10_000, random_state=seed).fit(train.x.double().numpy())
    ridge = RidgeClassifierCV(alphas=np.logspace(-3, 3, 10))
    ridge.fit(rocket.transform(train.x.double().numpy()), train.y.numpy())
    score = ridge.score(rocket.transform(test.x.double().numpy()), test.y.numpy())
    return rows | {f"{data.name}: ROCKET": {"rocket_accuracy": float(score)}}


def run(options: TimeSeriesOptions, context: RunContext) -> RecipeResult:
    table: dict[str, dict[str, float]] = {}
    correct: dict[str, dict[str, list[int]]] = {}
    histories: dict[str, list[dict[str, float]]] = {}
    modules, notes = {}, []
    for data in _datasets(options, notes):
        name = data.name
        untrained, model, histories[name], chosen = pretrain_and_choose(data, options, context)
        notes += [chosen] if chosen else []
        modules[name] = model
        train, test = data.train, data.test
        nets = {"untrained encoder": untrained, "trained encoder": model}
        if train.y is None or test.y is None:
            table |= _unlabelled(name, test, nets, options.seed)
            notes.append(f"{name} has no labels: the table measures held-out geometry.")
            continue
        raw = (train.x.flatten(1), train.y, test.x.flatten(1), test.y)
        table[f"{name}: raw series"], correct[f"{name}: raw series"] = protocol(
            *raw, seed=options.seed
        )
        if options.baselines:
            table |= baselines(data, options.seed)
        for label, net in nets.items():
            features = (_features(net, train), train.y, _features(net, test), test.y)
            table[f"{name}: {label}"], correct[f"{name}: {label}"] = protocol(
                *features, seed=options.seed
            )
    notes.append(
        "1-NN: Euclidean nearest neighbour (raw series: 1-NN ED; DTW: full window). SVM: RBF "
        "kernel, C by 5-fold cross-validation on the training split (a hard margin under 5 "
        "series per class or 50 in all), TS2Vec's protocol."
    )
    return RecipeResult(table, merge_histories(histories), modules, notes, correct)


RECIPE = Recipe(
    name="timeseries",
    summary="TS2Vec (overlapping crops, hierarchical contrast), UCR/UEA sets, 1-NN and SVM",
    options=TimeSeriesOptions,
    run=run,
    tiny={
        "datasets": "gunpoint,japanese_vowels",
        "epochs": 2,
        "hidden": 8,
        "depth": 2,
        "embedding_dim": 16,
        "baselines": False,
    },
    first_column="dataset: features",
    needs={"sktime": "pip install 'contrastor[timeseries]'"},
)
