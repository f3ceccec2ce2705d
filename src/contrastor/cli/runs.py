"""Reading a finished run folder: its settings, its saved modules, its text encoder."""

from __future__ import annotations

from pathlib import Path
from typing import Any

TEXT_RECIPES = ("text", "simcse")


def run_settings(folder: Path) -> tuple[str, dict[str, Any]]:
    """The recipe name and the settings of a finished run folder."""
    import yaml

    config = folder / "config.yaml"
    if not config.is_file() or not (folder / "model.safetensors").is_file():
        raise FileNotFoundError(
            f"{folder} is not a finished run folder (config.yaml, model.safetensors)"
        )
    settings = yaml.safe_load(config.read_text())
    return settings.pop("recipe", "image"), settings


def run_weights(folder: Path) -> dict[str, dict[str, Any]]:
    """The saved modules' state dicts by module name (the prefix of each key)."""
    from safetensors.torch import load_file

    modules: dict[str, dict[str, Any]] = {}
    for key, value in load_file(str(folder / "model.safetensors")).items():
        name, _, rest = key.partition(".")
        modules.setdefault(name, {})[rest] = value
    return modules


def run_text_encoder(folder: Path, method: str | None = None) -> Any:
    """The text encoder a text run trained (``method``: which of its models; default the
    last one saved)."""
    from contrastor.recipes import get_recipe, recipe_options
    from contrastor.recipes.text import text_encoder

    recipe, settings = run_settings(folder)
    if recipe not in TEXT_RECIPES:
        raise ValueError(f"{folder} is a {recipe!r} run, not a text run ({TEXT_RECIPES})")
    weights = run_weights(folder)
    methods = list(weights)
    method = method or methods[-1]
    if method not in methods:
        raise ValueError(f"{folder} holds the models {methods}, not {method!r}")
    options = recipe_options(get_recipe(recipe), settings)
    encoder = text_encoder(options, projection="projection.weight" in weights[method])
    encoder.load_state_dict(weights[method])
    return encoder


def text_model(path: str | None, method: str | None = None) -> Any:
    """A text run folder's trained encoder, a transformers model folder, or (``None``) the
    packaged all-MiniLM-L6-v2."""
    from contrastor.models.text import TextEncoder

    if path is not None and (Path(path) / "config.yaml").is_file():
        return run_text_encoder(Path(path), method)
    return TextEncoder(path)
