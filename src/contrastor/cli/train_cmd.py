"""``contrastor train``: train an encoder contrastively and report how good it became."""

from __future__ import annotations

import argparse
import dataclasses
import os

from contrastor.data.files import KINDS
from contrastor.recipes import RECIPES
from contrastor.train.config import (
    DATASETS,
    DEVICES,
    NOISE_KINDS,
    PRECISIONS,
    REPORTS,
    ROBUST,
    TrainConfig,
)

#: image-job flags that also set how a recipe runs (its run context), not its options
RUN_FLAGS = ("resume", "precision", "checkpoint_every")

HELP = {
    "data": "your own data: a folder of class sub-folders of images, or a table/array file "
    "whose kind picks the recipe (README 'Your own data')",
    "data_kind": "the kind of --data when not the one detected",
    "skip_bad_rows": "leave malformed rows of --data out (counted in the report) instead of "
    "stopping at the first",
    "image_size": "resize images from --data to this square size (0: the first image's size)",
    "workers": "processes decoding images from --data",
    "model": "image encoder: small_cnn, or a local transformers image-model folder (ViT, "
    "ResNet...; weights when present, else random from its config.json)",
    "head_layers": "projection head depth (0: none, 1: linear, 2: SimCLR MLP)",
    "head_hidden": "projection head hidden width (0: the wider of features and embedding)",
    "predictor_hidden": "hidden width of the BYOL/SimSiam predictor (0: 256)",
    "predictor_lr": "the BYOL/SimSiam predictor's learning rate as a multiple of --lr",
    "momentum": "base momentum of a momentum target, BYOL/MoCo (0: the loss's published one)",
    "dataset": f"bundled offline dataset ({', '.join(DATASETS)}; a recipe's own otherwise)",
    "loss": "loss by registry name, any spelling (docs/losses.md); supervised ones use the labels",
    "temperature": "softmax temperature tau (SigLIP: 1 / logit scale)",
    "learnable_temperature": "learn the temperature with the model",
    "epochs": "passes over the training split",
    "batch_size": "images per step (each seen in every view)",
    "lr": "peak AdamW learning rate",
    "weight_decay": "AdamW weight decay",
    "warmup_epochs": "linear warm-up length before the cosine decay",
    "width": "encoder width (channels of its first layer; model size)",
    "embedding_dim": "projection (loss) dimension",
    "views": "augmented views per image",
    "test_fraction": "held-out share of the data used for evaluation",
    "report": "test, or validation: score on a held-out share of the training split "
    "(for choosing settings; the test split is not read)",
    "seed": "seed of the split, the initialisation, the shuffles and the views",
    "precision": "fp32, or bf16 autocast",
    "device": "where to train",
    "out": "run folder (checkpoint, metrics, report)",
    "checkpoint_every": "also checkpoint every N steps (0: once per epoch)",
    "knn_k": "neighbours for kNN accuracy",
    "baselines": "also evaluate raw pixels and the untrained encoder",
    "label_noise": "share of training labels flipped to measure robustness (test stays clean)",
    "label_noise_kind": "symmetric (any other class) or asymmetric (2->7, 3->8, 5<->6, 7->1)",
    "robust": "weight, drop or unlabel samples by a loss-history mixture or kNN label agreement",
    "robust_k": "neighbours whose labels the knn_* detectors compare (chosen on validation)",
    "robust_warmup": "epochs of plain training before the robust strategy starts (= epochs:"
    " train plainly, filter the labels at the end)",
    "resume": "continue from the run folder's checkpoint",
    "progress": "show a progress bar",
}
CHOICES = {
    "data_kind": KINDS,
    "precision": PRECISIONS,
    "device": DEVICES,
    "label_noise_kind": NOISE_KINDS,
    "robust": ROBUST,
    "report": REPORTS,
}


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    defaults = TrainConfig()
    parser = subparsers.add_parser(
        "train",
        help="train an encoder (default: SimCLR on the bundled MNIST subset)",
        description=(
            "Train an encoder + projection head with a contrastive loss on a bundled dataset "
            "or your own files (--data), then print kNN and linear-probe accuracy on "
            "held-out data for raw pixels, the untrained encoder and the trained encoder. "
            "With no options it runs the default job (SimCLR on 5,000 MNIST digits, a few "
            "minutes on a laptop CPU). Options come from the defaults, then --config FILE "
            "(YAML with the same names), then flags."
        ),
    )
    parser.add_argument("--config", metavar="FILE", help="YAML file of options")
    parser.add_argument(
        "--recipe",
        choices=sorted(RECIPES),
        metavar="NAME",
        help="run the end-to-end recipe for another kind of data instead of the image job ("
        + ", ".join(sorted(RECIPES))
        + "); the options below that a recipe has apply to it, 'contrastor recipes' lists them",
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a recipe option without a flag of its own (repeatable), e.g. --set corruption=0.5",
    )
    for f in dataclasses.fields(TrainConfig):
        if f.name == "extra":
            continue
        flag = "--" + f.name.replace("_", "-")
        default = getattr(defaults, f.name)
        if isinstance(default, bool):
            parser.add_argument(
                flag,
                action=argparse.BooleanOptionalAction,
                default=None,
                help=f"{HELP[f.name]} (default {default})",
            )
        else:
            parser.add_argument(
                flag,
                type=type(default),
                default=None,
                choices=CHOICES.get(f.name),
                metavar=None
                if f.name in CHOICES
                else "N"
                if isinstance(default, (int, float))
                else "PATH",
                help=f"{HELP[f.name]} (default {default if default != '' else 'none'})",
            )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    if not args.recipe:
        args.recipe = recipe_for_data(args)
    if args.recipe:
        return run_recipe_command(args)
    if args.set:
        raise ValueError("--set gives recipe options: add --recipe NAME")
    from contrastor.run.page import format_table
    from contrastor.train.config import field_names, load_config
    from contrastor.train.loop import train

    overrides = {name: getattr(args, name) for name in field_names()}
    config = load_config(args.config, **overrides)
    leader = int(os.environ.get("RANK", "0")) == 0  # under torchrun, rank 0 reports
    if leader:
        print(
            f"contrastor train: {config.loss} on {config.data or config.dataset}, "
            f"{config.epochs} epochs, "
            f"batch {config.batch_size}, run folder {config.out}"
        )
    result = train(config)
    if leader:
        print()
        print(format_table(result.table))
        print("".join(f"\n{note}" for note in result.notes))
        print(f"report: {result.folder / 'report.html'}")
    return 0


def recipe_for_data(args: argparse.Namespace) -> str | None:
    """The recipe that reads the ``data`` given by flag or config file (``None`` for
    images, which the image job reads, and without data)."""
    from contrastor.data.files import RECIPE_OF, detect_kind
    from contrastor.train.config import read_options

    options = read_options(args.config) if args.config else {}
    data = args.data or options.get("data")
    if not data:
        return None
    kind = args.data_kind or options.get("data_kind") or detect_kind(data)
    if kind not in RECIPE_OF:
        raise ValueError(f"data_kind must be one of {', '.join(KINDS)}, got {kind!r}")
    return None if kind == "images" else RECIPE_OF[kind]


def run_recipe_command(args: argparse.Namespace) -> int:
    """``--recipe NAME``: options from ``--config``, then the flags given, then ``--set``."""
    import yaml

    from contrastor.recipes import get_recipe, run_recipe
    from contrastor.run.page import format_table
    from contrastor.train.config import field_names, read_options

    recipe = get_recipe(args.recipe)
    overrides = read_options(args.config) if args.config else {}
    run_flags = {}
    for name in field_names():
        value = getattr(args, name)
        if name in RUN_FLAGS:
            if value is not None:
                run_flags[name] = value
        elif name not in ("out", "progress") and value is not None:
            overrides[name] = value
    for item in args.set:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ValueError(f"--set takes KEY=VALUE, got {item!r}")
        overrides[key.strip().replace("-", "_")] = yaml.safe_load(value)
    out = args.out or f"runs/{recipe.name}"
    leader = int(os.environ.get("RANK", "0")) == 0
    if leader:
        print(f"contrastor train --recipe {recipe.name}: {recipe.summary}; run folder {out}")
    done = run_recipe(recipe, out, progress=args.progress is not False, **run_flags, **overrides)
    if not leader:
        return 0
    print()
    print(format_table(done.result.table, recipe.first_column))
    print("".join(f"\n{note}" for note in done.result.notes))
    print(f"report: {done.folder / 'report.html'}")
    return 0
