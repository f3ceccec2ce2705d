"""``contrastor export``: a trained encoder from a run folder as a sentence-transformers
folder (text runs) or an ONNX file (image and text runs), checked against PyTorch."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

FORMATS = ("onnx", "sentence-transformers")
TEXT_RECIPES = ("text", "simcse")


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "export",
        help="export a trained encoder (sentence-transformers folder, ONNX)",
        description=(
            "Export the encoder a run trained: a text run (the text and simcse recipes) as a "
            "folder that sentence_transformers.SentenceTransformer(folder) loads, or as ONNX; "
            "an image run (contrastor train, the image recipe) as ONNX of the encoder's "
            "features. Prints the largest difference between the exported model's "
            "embeddings (onnxruntime for ONNX) and PyTorch's."
        ),
    )
    parser.add_argument("folder", metavar="RUN", help="run folder (config.yaml, model.safetensors)")
    parser.add_argument("--format", choices=FORMATS, default="onnx", help="default onnx")
    parser.add_argument("--out", required=True, metavar="PATH", help="file or folder to write")
    parser.add_argument(
        "--method",
        metavar="NAME",
        help="which trained model of a text run (in_batch, hard_negatives, ...; default the last)",
    )
    parser.set_defaults(run=run)


def _settings(folder: Path) -> tuple[str, dict[str, Any]]:
    import yaml

    config = folder / "config.yaml"
    if not config.is_file() or not (folder / "model.safetensors").is_file():
        raise FileNotFoundError(
            f"{folder} is not a finished run folder (config.yaml, model.safetensors)"
        )
    settings = yaml.safe_load(config.read_text())
    return settings.pop("recipe", "image"), settings


def _weights(folder: Path) -> dict[str, dict[str, Any]]:
    """The saved modules' state dicts by module name (the prefix of each key)."""
    from safetensors.torch import load_file

    modules: dict[str, dict[str, Any]] = {}
    for key, value in load_file(str(folder / "model.safetensors")).items():
        name, _, rest = key.partition(".")
        modules.setdefault(name, {})[rest] = value
    return modules


def _text(folder: Path, recipe: str, settings: dict[str, Any], args: argparse.Namespace) -> float:
    from contrastor.integrations.export import export_text_onnx, save_sentence_transformer
    from contrastor.recipes import get_recipe, recipe_options
    from contrastor.recipes.text import text_encoder

    weights = _weights(folder)
    methods = list(weights)
    method = args.method or methods[-1]
    if method not in methods:
        raise ValueError(f"{folder} holds the models {methods}, not {method!r}")
    encoder = text_encoder(recipe_options(get_recipe(recipe), settings))
    encoder.load_state_dict(weights[method])
    if args.format == "sentence-transformers":
        return save_sentence_transformer(encoder, args.out)
    return export_text_onnx(encoder, args.out, ["a first text to compare", "and a second one"])


def _image(folder: Path, settings: dict[str, Any], out: str) -> float:
    from contrastor.integrations.export import export_onnx
    from contrastor.scale.launch import plan_launch
    from contrastor.train.config import TrainConfig
    from contrastor.train.loop import ImageTask

    known = {k: v for k, v in settings.items() if k in TrainConfig.__dataclass_fields__}
    config = TrainConfig(**known)
    task = ImageTask(config, plan_launch({}, "cpu", 0))
    task.model.load_state_dict(_weights(folder)["model"])
    return export_onnx(task.model.encoder, task.data.test_images[:4], out)


def run(args: argparse.Namespace) -> int:
    folder = Path(args.folder)
    recipe, settings = _settings(folder)
    if recipe in TEXT_RECIPES:
        gap = _text(folder, recipe, settings, args)
    elif recipe == "image":
        if args.format != "onnx":
            raise ValueError("an image encoder exports to onnx only")
        gap = _image(folder, settings, args.out)
    else:
        raise ValueError(
            f"exporting a {recipe!r} run is not supported: use contrastor.integrations.export"
        )
    print(f"wrote {args.out}: largest difference from PyTorch's embeddings {gap:.2e}")
    return 0
