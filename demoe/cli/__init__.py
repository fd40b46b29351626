"""The ``demoe`` command line: one sub-command group per library area.

Each module in ``COMMAND_MODULES`` exposes ``register(subparsers)``, which adds
its sub-commands and sets ``func`` on each parser; ``main`` dispatches to it.
Errors the library raises for bad input (``DemoeError``, ``ValueError``,
``FileNotFoundError``) are printed as one line and exit with status 2.
"""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Sequence

from demoe.errors import run_reporting_errors

COMMAND_MODULES: tuple[str, ...] = (
    "demoe.cli.models",
    "demoe.cli.train",
    "demoe.cli.data",
    "demoe.cli.eval",
    "demoe.cli.plan",
    "demoe.cli.compare",
    "demoe.restore",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="demoe", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return run_reporting_errors(f"demoe {args.command}", lambda: args.func(args))
