"""End-to-end recipes, one per kind of data: ``contrastor train --recipe NAME``."""

from contrastor.recipes import crossmodal, image, recommendation, tabular, text, timeseries
from contrastor.recipes.base import Recipe, RecipeResult, RecipeRun, recipe_options, run_recipe

RECIPES: dict[str, Recipe] = {
    r.name: r
    for r in (
        crossmodal.RECIPE,
        image.RECIPE,
        recommendation.RECIPE,
        text.SIMCSE,
        tabular.RECIPE,
        text.TEXT,
        timeseries.RECIPE,
    )
}


def get_recipe(name: str) -> Recipe:
    """The recipe called ``name`` (a ``ValueError`` lists the others)."""
    if name not in RECIPES:
        raise ValueError(f"unknown recipe {name!r}; choose one of {sorted(RECIPES)}")
    return RECIPES[name]


__all__ = [
    "RECIPES",
    "Recipe",
    "RecipeResult",
    "RecipeRun",
    "get_recipe",
    "recipe_options",
    "run_recipe",
]
