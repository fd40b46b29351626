"""One figure style for every plot of the project.

``apply_style()`` once before plotting; ``DATASET_COLORS[name]`` for a dataset's colour
(keys: ``demoe.tasks.DATASETS``, fixed across figures); ``save_figure(fig, *paths)``
to write figures atomically.
"""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib
import seaborn as sns
from matplotlib.figure import Figure

from demoe.io.atomic import atomic_path
from demoe.tasks import DATASETS

DPI = 200
#: Colour-blind-safe palette (seaborn "colorblind"), frozen so colours never shift.
#: Datasets take colours in ``DATASETS`` order; a new dataset takes the next free one.
_PALETTE: tuple[str, ...] = (
    "#0173b2",
    "#de8f05",
    "#029e73",
    "#d55e00",
    "#cc78bc",
    "#ca9161",
    "#fbafe4",
    "#949494",
    "#ece133",
    "#56b4e9",
)
if len(DATASETS) > len(_PALETTE):
    raise RuntimeError(f"{len(DATASETS)} datasets but only {len(_PALETTE)} figure colours")
DATASET_COLORS: dict[str, str] = dict(zip(DATASETS, _PALETTE))  # noqa: B905 - checked above
#: Filled markers, distinct in shape, so a point is told apart without its colour.
MARKERS: tuple[str, ...] = ("o", "s", "^", "D", "v", "P", "X", "*", "<", ">", "h", "p")
DATASET_MARKERS: dict[str, str] = dict(zip(DATASETS, MARKERS))  # noqa: B905 - checked above
#: Width of the paper's text column (ICLR template, one column), inches: a figure printed at
#: this width keeps its text at least ``MIN_FONT_PT`` when sized with :func:`font_pt`.
COLUMN_WIDTH_IN = 5.5
MIN_FONT_PT = 7.0
#: Margin :func:`save_figure` leaves around a figure's tight bounding box, inches.
SAVE_PAD_IN = 0.1
#: Width to draw a column-wide figure at (constrained layout): with the margins, its saved
#: file is ``COLUMN_WIDTH_IN`` wide, so its text prints at the size it is drawn.
COLUMN_FIGURE_WIDTH_IN = COLUMN_WIDTH_IN - 2 * SAVE_PAD_IN
FORMATS: tuple[str, ...] = ("pdf", "png")


def palette_color(i: int) -> str:
    """The ``i``-th colour of the palette (cycling)."""
    return _PALETTE[i % len(_PALETTE)]


def font_pt(figure_width_in: float, pt: float = MIN_FONT_PT) -> float:
    """The font size to draw at in a figure ``figure_width_in`` wide so that the text is
    ``pt`` points when the figure is scaled to the paper's column width (never less than
    ``pt``: a narrower figure is not enlarged)."""
    return pt * max(1.0, figure_width_in / COLUMN_WIDTH_IN)


def apply_style() -> None:
    """Seaborn "whitegrid" theme, paper context, embedded TrueType fonts in PDFs."""
    sns.set_theme(context="paper", style="whitegrid", palette=list(_PALETTE))
    matplotlib.rcParams.update({"pdf.fonttype": 42, "savefig.bbox": "tight", "savefig.dpi": DPI})


def save_figure(fig: Figure, *paths: str | os.PathLike) -> list[Path]:
    """Write ``fig`` to each path atomically, at ``DPI``; returns the files written.

    A path with a suffix is written in that format; a path without one gives both
    ``<path>.pdf`` and ``<path>.png``. PDFs carry no creation date, so reruns are
    byte-stable.
    """
    written = []
    for path in map(Path, paths):
        targets = [path] if path.suffix else [path.with_name(f"{path.name}.{f}") for f in FORMATS]
        for target in targets:
            fmt = target.suffix.lstrip(".").lower()
            metadata = {"CreationDate": None} if fmt == "pdf" else None
            with atomic_path(target) as tmp:
                fig.savefig(
                    tmp,
                    format=fmt,
                    dpi=DPI,
                    bbox_inches="tight",
                    pad_inches=SAVE_PAD_IN,
                    metadata=metadata,
                )
            written.append(target)
    return written
