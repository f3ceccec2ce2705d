"""What a recipe is, and the run folder every recipe writes.

A recipe meets one kind of data end to end: its dataset, views, encoder, loss and evaluation.
Its options are a dataclass of defaults; :func:`run_recipe` applies overrides (unknown ones
are refused with the valid names), runs it in a :class:`~contrastor.run.loop.RunContext`
(resume, bf16, ``torchrun``) and writes the run folder of ``contrastor train``:
``config.yaml``, a checkpoint per training loop, ``metrics.csv``/``metrics.json``,
``results.json``, ``model.safetensors`` and ``report.html``.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from contrastor.run.checkpoint import atomic_save
from contrastor.run.loop import RunContext
from contrastor.run.metrics_log import MetricsLog
from contrastor.run.options import typed_options
from contrastor.run.page import PLOTS_NEED_MATPLOTLIB, render_page

#: the split a recipe's table scores: the held-out test data, or a validation split carved
#: from the training data (for choosing settings without touching test)
REPORTS = ("test", "validation")


def check_report(report: str) -> None:
    if report not in REPORTS:
        raise ValueError(f"report must be one of {REPORTS}, got {report!r}")


@dataclass
class RecipeResult:
    """A recipe's outcome: ``table`` rows are what was evaluated (raw features, the untrained
    and the trained encoder, ...), columns its metrics; ``history`` one row per epoch; the
    trained ``modules`` are saved to ``model.safetensors``; ``correct``: for classification
    rows, per metric, 1 for each test item that row's classifier got right and 0 otherwise
    (test order), so that two rows can be compared item by item (McNemar)."""

    table: dict[str, dict[str, float]]
    history: list[dict[str, float]]
    modules: dict[str, nn.Module] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    correct: dict[str, dict[str, list[int]]] = field(default_factory=dict)


@dataclass(frozen=True)
class Recipe:
    """A named end-to-end job: ``options`` is a dataclass type of defaults, ``run`` trains
    and evaluates from an instance of it in a run context; ``tiny`` overrides make the
    test-size version; ``needs`` maps the optional modules it imports to the command that
    installs them."""

    name: str
    summary: str
    options: type
    run: Callable[..., RecipeResult]
    tiny: dict[str, Any]
    first_column: str = "features"
    needs: dict[str, str] = field(default_factory=dict)


@dataclass
class RecipeRun:
    """What :func:`run_recipe` returns."""

    folder: Path
    options: Any
    result: RecipeResult


def recipe_options(recipe: Recipe, overrides: dict[str, Any]) -> Any:
    """The recipe's option dataclass with ``overrides`` applied (``None`` values ignored)."""
    names = [f.name for f in dataclasses.fields(recipe.options)]
    given = {k: v for k, v in overrides.items() if v is not None}
    unknown = sorted(set(given) - set(names))
    if unknown:
        raise ValueError(
            f"recipe {recipe.name!r} has no option(s) {', '.join(unknown)}; "
            f"its options: {', '.join(names)}"
        )
    options = recipe.options(**typed_options(recipe.options, given))
    check = getattr(options, "validate", None)
    if check is not None:
        check()
    return options


def run_recipe(
    recipe: Recipe,
    out: str | Path,
    *,
    progress: bool = True,
    resume: bool = False,
    precision: str = "fp32",
    checkpoint_every: int = 0,
    **overrides: Any,
) -> RecipeRun:
    """Run ``recipe`` with ``overrides`` and write its run folder at ``out``. Every training
    loop of the recipe checkpoints into the folder at each epoch's end (and every
    ``checkpoint_every`` steps); ``resume`` continues from those checkpoints, with the same
    final weights as an uninterrupted run; ``precision="bf16"`` runs the forward passes under
    bf16 autocast; under ``torchrun`` each rank trains its share of every batch and rank 0
    writes the folder."""
    import yaml

    options = recipe_options(recipe, overrides)
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    settings = {"recipe": recipe.name, **dataclasses.asdict(options)}
    context = RunContext(folder, resume, precision, checkpoint_every, progress)
    leader = context.rank == 0
    if leader:
        (folder / "config.yaml").write_text(yaml.safe_dump(settings, sort_keys=False))
    torch.manual_seed(getattr(options, "seed", 0))
    result = recipe.run(options, context)
    if context.world > 1:
        dist.barrier()
        dist.destroy_process_group()
    if leader:
        _write(recipe, folder, settings, result)
    return RecipeRun(folder, options, result)


def _write(recipe: Recipe, folder: Path, settings: dict[str, Any], result: RecipeResult) -> None:
    """The run folder: weights, results, metrics and the report page."""
    MetricsLog(folder, result.history, tensorboard=False).write()
    if result.modules:
        state = {
            f"{name}.{key}": value.detach().contiguous()
            for name, module in result.modules.items()
            for key, value in module.state_dict().items()
        }
        atomic_save(state, folder / "model.safetensors", {"config": settings})
    payload = {"config": settings, "table": result.table, "history": result.history}
    if result.notes:
        payload["notes"] = result.notes
    if result.correct:
        payload["correct"] = result.correct
    (folder / "results.json").write_text(json.dumps(payload, indent=1))
    figures, note = _loss_plot(folder, result.history)
    notes = "".join(f"<p>{n}</p>" for n in result.notes)
    page = render_page(
        f"contrastor recipe: {recipe.name}",
        result.table,
        settings,
        figures,
        note + notes,
        first=recipe.first_column,
    )
    (folder / "report.html").write_text(page)


def _loss_plot(folder: Path, history: list[dict[str, float]]) -> tuple[list[tuple[str, str]], str]:
    if not history:
        return [], ""
    try:
        import matplotlib
    except ModuleNotFoundError:
        return [], PLOTS_NEED_MATPLOTLIB
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.6))
    ax.plot([row["epoch"] for row in history], [row["loss"] for row in history], marker="o", ms=3)
    ax.set(xlabel="epoch", ylabel="loss", title="training loss (epoch mean)")
    fig.tight_layout()
    fig.savefig(folder / "training.png", dpi=110)
    plt.close(fig)
    return [("training.png", "Training loss, mean over each epoch")], ""
