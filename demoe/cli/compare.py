"""``demoe compare RUN_A RUN_B``: two results folders' tables and claims side by side."""

from __future__ import annotations

import argparse

from demoe.analysis.compare import OUTPUT_FILES, compare_runs, markdown, write_comparison


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "compare",
        help="every table and claim of two results folders side by side, with differences",
    )
    parser.add_argument("run_a", help="results folder of run A (the reference)")
    parser.add_argument("run_b", help="results folder of run B (differences are B - A)")
    parser.add_argument(
        "--out",
        help=f"folder to write {', '.join(OUTPUT_FILES)} into (default: Markdown on stdout)",
    )
    parser.set_defaults(func=_compare)


def _compare(args: argparse.Namespace) -> int:
    comparison = compare_runs(args.run_a, args.run_b)
    if args.out is None:
        print(markdown(comparison), end="")
        return 0
    for path in write_comparison(comparison, args.out):
        print(path)
    return 0
