"""Entry point of the ``contrastor`` command."""

from __future__ import annotations

import argparse
import sys

from contrastor import __version__
from contrastor.cli import bench_cmd, eval_cmd, export_cmd, recipes_cmd, train_cmd


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="contrastor",
        description="Contrastive representation learning: train encoders and evaluate embeddings.",
        epilog="Run 'contrastor COMMAND --help' for the options of a command.",
    )
    parser.add_argument("--version", action="version", version=f"contrastor {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    train_cmd.add_parser(sub)
    eval_cmd.add_parser(sub)
    recipes_cmd.add_parser(sub)
    bench_cmd.add_parser(sub)
    export_cmd.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        return args.run(args)
    except (ValueError, FileNotFoundError, ModuleNotFoundError) as exc:
        print(f"contrastor {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
