"""Tabular recipe: SCARF pre-training of an MLP on a scikit-learn table or your own file,
linear probe and kNN on the held-out rows against the raw (standardised) features and the
untrained encoder (without labels: alignment, uniformity and effective rank of held-out
rows against their corrupted view)."""

from __future__ import annotations

from dataclasses import dataclass

import torch

import contrastor.functional as CF
from contrastor.data.datasets import stratified_split
from contrastor.data.files import DataOptions
from contrastor.data.tabular import TABLES, load_tabular, read_tabular
from contrastor.data.views.tabular import MarginalCorruption
from contrastor.eval import embed_in_chunks, feature_accuracy, view_geometry
from contrastor.models import MLP, ContrastiveModel
from contrastor.recipes.base import Recipe, RecipeResult
from contrastor.recipes.loop import fit, shuffled_batches
from contrastor.run.loop import Loop, RunContext


@dataclass
class TabularOptions(DataOptions):
    """``dataset``: wine or breast_cancer (or iris), unless ``data`` is a file of your own;
    ``corruption``: share of each row's
    features replaced from their marginals; the encoder is ``depth`` layers of ``hidden``
    units with a projection head to ``embedding_dim``; ``label_fraction``: the share of the
    training rows whose labels the probes see (class-stratified, at least one a class; the
    low-label setting of the SCARF paper), while pre-training uses every training row."""

    dataset: str = "wine"
    epochs: int = 200
    batch_size: int = 64
    lr: float = 1e-3
    temperature: float = 1.0
    corruption: float = 0.6
    hidden: int = 256
    depth: int = 3
    embedding_dim: int = 128
    test_fraction: float = 0.3
    label_fraction: float = 1.0
    seed: int = 0

    def validate(self) -> None:
        self.validate_data("tabular")
        if self.dataset not in TABLES:
            raise ValueError(f"dataset must be one of {list(TABLES)}, got {self.dataset!r}")
        if self.batch_size < 2:
            raise ValueError("batch_size must be at least 2: the loss needs negatives")
        if not 0 < self.label_fraction <= 1:
            raise ValueError(f"label_fraction must be in (0, 1], got {self.label_fraction}")


def run(options: TabularOptions, context: RunContext) -> RecipeResult:
    notes = []
    if options.data:
        data, problems = read_tabular(
            options.data, options.test_fraction, options.seed, skip_bad_rows=options.skip_bad_rows
        )
        notes += problems.notes()
    else:
        data = load_tabular(options.dataset, options.test_fraction, options.seed)
    x, xt = data.standardise(data.train_x), data.standardise(data.test_x)
    corrupt = MarginalCorruption(data.train_x, options.corruption)
    torch.manual_seed(options.seed)

    def build() -> ContrastiveModel:
        encoder = MLP(x.shape[1], options.hidden, options.depth)
        return ContrastiveModel(encoder, encoder.feature_dim, options.embedding_dim)

    untrained, model = build(), build()
    model.load_state_dict(untrained.state_dict())

    def step(index: torch.Tensor, loop: Loop) -> torch.Tensor:
        view = loop.share(data.standardise(corrupt(data.train_x[index], loop.generator)))
        return CF.info_nce(
            model(x[loop.share(index)]),
            model(view),
            temperature=options.temperature,
            symmetric=True,
            exchange=loop.exchange,
        )

    history = fit(
        {"model": model},
        shuffled_batches(len(x), min(options.batch_size, len(x))),
        step,
        epochs=options.epochs,
        lr=options.lr,
        warmup_epochs=0.05 * options.epochs,
        seed=options.seed,
        context=context,
        label=f"SCARF on {data.name}",
    )
    y, yt = data.train_y, data.test_y
    if y is None or yt is None:
        view = data.standardise(corrupt(data.test_x, torch.Generator().manual_seed(options.seed)))
        table = {"raw features": view_geometry(xt, view)}
        for name, net in (("untrained encoder", untrained), ("trained encoder", model)):
            table[name] = view_geometry(
                embed_in_chunks(net, net.features, xt), embed_in_chunks(net, net.features, view)
            )
        notes.append("No label column: the table measures held-out geometry, not accuracy.")
        return RecipeResult(table, history, {"model": model}, notes)
    keep, k = labelled_rows(y, options.label_fraction, options.seed)
    if len(keep) < len(y):
        notes.append(
            f"Probes fit on {len(keep)} of the {len(y)} training labels (label_fraction"
            f" {options.label_fraction}, class-stratified); kNN with k = {k}."
        )
    table = {"raw features": feature_accuracy(x[keep], y[keep], xt, yt, k=k)}
    for name, net in (("untrained encoder", untrained), ("trained encoder", model)):
        features = embed_in_chunks(net, net.features, x)[keep]
        test = embed_in_chunks(net, net.features, xt)
        table[name] = feature_accuracy(features, y[keep], test, yt, k=k)
    return RecipeResult(table, history, {"model": model}, notes)


def labelled_rows(labels: torch.Tensor, fraction: float, seed: int) -> tuple[torch.Tensor, int]:
    """The training rows whose labels a probe may use (a class-stratified ``fraction``, all
    of them at 1) and the kNN neighbour count: 10, or fewer when the labelled rows of an
    average class are fewer."""
    if fraction >= 1:
        return torch.arange(len(labels)), 10
    _, kept = stratified_split(labels.numpy(), fraction, seed)
    classes = len(torch.unique(labels))
    return torch.from_numpy(kept), max(1, min(10, len(kept) // classes))


RECIPE = Recipe(
    name="tabular",
    summary="SCARF: feature corruption from the marginals, MLP encoder; wine, breast cancer",
    options=TabularOptions,
    run=run,
    tiny={"epochs": 3, "hidden": 32, "depth": 2, "embedding_dim": 16},
)
