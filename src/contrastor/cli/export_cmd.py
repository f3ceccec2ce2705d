"""``contrastor export``: a trained encoder from a run folder as a sentence-transformers
folder (text runs) or an ONNX file (image and text runs), checked against PyTorch."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from contrastor.cli.runs import TEXT_RECIPES, run_settings

FORMATS = ("onnx", "sentence-transformers")


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


def _text(folder: Path, args: argparse.Namespace) -> float:
    from contrastor.cli.runs import run_text_encoder
    from contrastor.integrations.export import export_text_onnx, save_sentence_transformer

    encoder = run_text_encoder(folder, args.method)
    if args.format == "sentence-transformers":
        return save_sentence_transformer(encoder, args.out)
    return export_text_onnx(encoder, args.out, ["a first text to compare", "and a second one"])


def _image(folder: Path, settings: dict[str, Any], out: str) -> float:
    from contrastor.cli.runs import run_weights
    from contrastor.integrations.export import export_onnx
    from contrastor.scale.launch import plan_launch
    from contrastor.train.config import TrainConfig
    from contrastor.train.loop import ImageTask

    known = {k: v for k, v in settings.items() if k in TrainConfig.__dataclass_fields__}
    config = TrainConfig(**known)
    task = ImageTask(config, plan_launch({}, "cpu", 0))
    task.model.load_state_dict(run_weights(folder)["model"])
    return export_onnx(task.model.encoder, task.data.test_images[:4], out)


def run(args: argparse.Namespace) -> int:
    folder = Path(args.folder)
    recipe, settings = run_settings(folder)
    if recipe in TEXT_RECIPES:
        gap = _text(folder, args)
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
