"""Image recipe: the default job of ``contrastor train`` (SimCLR's NT-Xent on MNIST views by
default, any trainable registered loss by ``loss``) as a recipe, with kNN and linear-probe
accuracy of the trained encoder against raw pixels and the untrained encoder. ``contrastor
train`` without ``--recipe`` runs the same task and adds its geometry and embedding plots."""

from __future__ import annotations

import dataclasses

from contrastor.recipes.base import Recipe, RecipeResult
from contrastor.run.loop import RunContext
from contrastor.train.config import TrainConfig
from contrastor.train.loop import Run

#: the image job's settings that say how it runs: a recipe takes them from its run context
RUN_FIELDS = ("precision", "device", "out", "checkpoint_every", "resume", "progress")


def _config(options: object, context: RunContext | None = None) -> TrainConfig:
    given = dataclasses.asdict(options)
    if context is None:
        return TrainConfig(**given)
    return TrainConfig(
        **given,
        precision=context.precision,
        out=str(context.folder),
        checkpoint_every=context.checkpoint_every,
        resume=context.resume,
        progress=context.progress,
    )


ImageOptions = dataclasses.make_dataclass(
    "ImageOptions",
    [
        (f.name, f.type, dataclasses.field(default=f.default))
        for f in dataclasses.fields(TrainConfig)
        if f.name not in RUN_FIELDS and f.default is not dataclasses.MISSING
    ],
    namespace={
        "__doc__": "The image job's settings (:class:`~contrastor.train.config.TrainConfig`) "
        "less those of the run context.",
        "validate": lambda self: _config(self).validate(),
    },
)


def run(options: ImageOptions, context: RunContext) -> RecipeResult:
    job = Run(_config(options, context).validate(), context)
    history = job.loop.fit()
    table, _ = job.task.final_table()
    notes = job.task.notes + [f"{k}: {v}" for k, v in job.task.noise_report().items()]
    return RecipeResult(table, history, {"model": job.model, "loss": job.loss}, notes)


RECIPE = Recipe(
    name="image",
    summary="the default job: a contrastive loss on image views, small CNN, MNIST or digits",
    options=ImageOptions,
    run=run,
    tiny={"dataset": "digits", "epochs": 2, "batch_size": 64, "width": 4, "embedding_dim": 16},
    first_column="features",
)
