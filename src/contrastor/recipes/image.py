"""Image recipe: the default job of ``contrastor train`` (SimCLR's NT-Xent on MNIST views by
default, any trainable registered loss by ``--loss``) as a recipe, with kNN and linear-probe
accuracy of the trained encoder against raw pixels and the untrained encoder. ``contrastor
train`` without ``--recipe`` runs the same task and adds its geometry and embedding plots."""

from __future__ import annotations

from contrastor.recipes.base import Recipe, RecipeResult
from contrastor.run.loop import RunContext
from contrastor.train.config import TrainConfig
from contrastor.train.loop import Run


def run(options: TrainConfig, context: RunContext) -> RecipeResult:
    job = Run(options.validate(), context)
    history = job.loop.fit()
    table, _ = job.final_table()
    noise = job.noise_report()
    notes = [f"{key}: {value}" for key, value in noise.items()]
    return RecipeResult(table, history, {"model": job.model, "loss": job.loss}, notes)


RECIPE = Recipe(
    name="image",
    summary="the default job: a contrastive loss on image views, small CNN, MNIST or digits",
    options=TrainConfig,
    run=run,
    tiny={"dataset": "digits", "epochs": 2, "batch_size": 64, "width": 4, "embedding_dim": 16},
    first_column="features",
)
