"""What every ``analysis/figNN_<name>.py`` script shares: arguments, saving, errors."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from demoe.analysis.style import apply_style, save_figure  # noqa: E402
from demoe.errors import run_reporting_errors  # noqa: E402


def figure_parser(doc: str | None) -> argparse.ArgumentParser:
    """An argparse parser described by the script's docstring, with --pdf and --png."""
    parser = argparse.ArgumentParser(description=(doc or "").strip().splitlines()[0])
    parser.add_argument("--pdf", required=True, help="PDF output")
    parser.add_argument("--png", required=True, help="PNG output")
    return parser


def add_study_arguments(parser: argparse.ArgumentParser, controls: bool = True) -> None:
    """The inputs of the weight-similarity figures (Fig. 2, 7, 8, 9): ``--models``, the
    seed and initialisation controls (``controls``) and ``--params``."""
    parser.add_argument("--models", nargs="+", required=True, help="per-dataset NAFNet files")
    if controls:
        parser.add_argument(
            "--seed-controls", nargs="*", default=[], help="nafnet_<dataset>_reseed model files"
        )
        parser.add_argument(
            "--init-control", action="store_true", help="each model vs its initial weights"
        )
    parser.add_argument("--params", choices=["weight", "all"], default="weight")


def save(fig: Figure, args: argparse.Namespace) -> None:
    """Write ``fig`` to ``args.pdf`` and ``args.png`` (atomically) and close it."""
    save_figure(fig, args.pdf, args.png)
    plt.close(fig)


def run(main: Callable[[Sequence[str] | None], None], argv: Sequence[str] | None = None) -> int:
    """Apply the figure style and run ``main``; bad input is one line on stderr, status 2."""
    apply_style()
    return run_reporting_errors(Path(sys.argv[0]).name, lambda: main(argv))
