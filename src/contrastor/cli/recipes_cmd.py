"""``contrastor recipes``: the end-to-end recipes and their options with defaults."""

from __future__ import annotations

import argparse
import dataclasses


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
        for f in dataclasses.fields(recipe.options):
            print(f"    {f.name} = {f.default!r}")
    return 0
