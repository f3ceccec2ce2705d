"""``contrastor recipes``: the end-to-end recipes and their options with defaults."""

from __future__ import annotations

import argparse
import dataclasses
import inspect


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "recipes",
        help="list the recipes for other kinds of data and their options",
        description="List the recipes ('contrastor train --recipe NAME') with their options "
        "and defaults; set one with its flag (--epochs 50) or with --set KEY=VALUE.",
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from contrastor.recipes import RECIPES

    for recipe in RECIPES.values():
        needs = "".join(f" (needs {m}: {how})" for m, how in recipe.needs.items())
        print(f"{recipe.name}: {recipe.summary}{needs}")
        for f in own_first(recipe.options):
            if f.default is not dataclasses.MISSING:
                print(f"    {f.name} = {f.default!r}")
    return 0


def own_first(options: type) -> list[dataclasses.Field]:
    """A recipe's options, its own first, then those of the classes it extends (the shared
    pair-noise options come last)."""
    level: dict[str, int] = {}
    for depth, cls in enumerate(options.__mro__):
        for name in inspect.get_annotations(cls):
            level.setdefault(name, depth)
    return sorted(dataclasses.fields(options), key=lambda f: level.get(f.name, 0))
