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
    parser.add_argument(
        "--scale",
        default="",
        help="the run's scale, printed above the figure (demoe.experiments.scale.run_scale)",
    )
    return parser


#: Font size and colour of the scale line above a figure.
SCALE_FONT_SIZE = 6
SCALE_COLOUR = "0.35"


def save(fig: Figure, args: argparse.Namespace) -> None:
    """Write ``fig`` to ``args.pdf`` and ``args.png`` (atomically) and close it; the run's
    scale (``--scale``) goes above the figure, so a miniature is never mistaken for the
    paper's result."""
    if getattr(args, "scale", ""):  # above everything: legends may sit below the axes
        # a title may itself sit above the figure (va="bottom" at y=1): go above its top
        top = fig.get_tightbbox().y1 / fig.get_figheight()
        fig.text(
            0.0,
            max(1.0, top),
            args.scale,
            fontsize=SCALE_FONT_SIZE,
            color=SCALE_COLOUR,
            ha="left",
            va="bottom",
            transform=fig.transFigure,
        )
    save_figure(fig, args.pdf, args.png)
    plt.close(fig)


def run(main: Callable[[Sequence[str] | None], None], argv: Sequence[str] | None = None) -> int:
    """Apply the figure style and run ``main``; bad input is one line on stderr, status 2."""
    apply_style()
    return run_reporting_errors(Path(sys.argv[0]).name, lambda: main(argv))
