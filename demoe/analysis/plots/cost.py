"""Fig. 6 (left): computational cost of the models, ours beside the paper's.

Reads ``results/tables/cost.csv`` (``analysis/cost_table.py``): MACs against parameters,
one filled point per model as we measure it (its mean runtime and device in the legend),
and a hollow point of the same colour and marker where the paper reports both numbers
(Tables 1, 5 and 7), joined to ours by a dotted line. DeMoE-5 (Sec. 5) is in the table; the
paper gives only its parameter count (50.4 M), so it has no reported point.
"""

from __future__ import annotations

import math
import os

import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from demoe.analysis.style import COLUMN_WIDTH_IN, MARKERS, MIN_FONT_PT, palette_color
from demoe.errors import DataError

COST_COLUMNS: tuple[str, ...] = ("method", "params_m", "macs_g", "runtime_ms", "size", "device")
#: Paper values; older tables without them plot ours only.
REPORTED_COLUMNS: tuple[str, ...] = ("reported_params_m", "reported_macs_g", "reported_runtime_ms")


def read_cost(path: str | os.PathLike) -> pd.DataFrame:
    """The cost table; DataError naming missing columns or an empty table."""
    table = pd.read_csv(path)
    missing = [c for c in COST_COLUMNS if c not in table.columns]
    if missing:
        raise DataError(f"{path}: missing columns {missing} (expected {list(COST_COLUMNS)})")
    if table.empty:
        raise DataError(f"{path}: no models in the cost table")
    for column in REPORTED_COLUMNS:
        if column not in table.columns:
            table[column] = math.nan
    return table


def runtime(row: tuple) -> str:
    """Our runtime as the legend writes it: ``525 ms [510, 540]`` with its 95 % interval
    over the timing repeats where the table has one."""
    low, high = (getattr(row, c, math.nan) for c in ("runtime_ci_low", "runtime_ci_high"))
    if math.isnan(low):
        return f"{row.runtime_ms:.4g} ms"
    return f"{row.runtime_ms:.4g} ms [{low:.4g}, {high:.4g}]"


def cost_figure(table: pd.DataFrame) -> Figure:
    """MACs against parameters: ours (filled) and the paper's (hollow) per model.

    Each model has its own colour and marker; its name and our runtime are in the legend
    under the axes (not beside the points, where close models would overlap). Sized for
    the paper's column width.
    """
    fig, ax = plt.subplots(figsize=(COLUMN_WIDTH_IN, 4.6))
    handles = []
    for i, row in enumerate(table.itertuples(index=False)):
        style = {"color": palette_color(i), "marker": MARKERS[i % len(MARKERS)]}
        ax.scatter(row.params_m, row.macs_g, s=40, edgecolors="white", linewidths=0.4, **style)
        if not (math.isnan(row.reported_params_m) or math.isnan(row.reported_macs_g)):
            reported = (row.reported_params_m, row.reported_macs_g)
            ax.scatter(
                *reported,
                s=70,
                facecolors="none",
                edgecolors=style["color"],
                marker=style["marker"],
                linewidths=1.0,
            )
            ax.plot(
                [row.params_m, reported[0]],
                [row.macs_g, reported[1]],
                ":",
                color=style["color"],
                lw=0.8,
            )
        handles.append(Line2D([], [], ls="", ms=6, label=f"{row.method} ({runtime(row)})", **style))
    ax.set_xlabel("parameters (M)", fontsize=MIN_FONT_PT + 1)
    ax.set_ylabel("MACs (G)", fontsize=MIN_FONT_PT + 1)
    ax.tick_params(labelsize=MIN_FONT_PT)
    sizes = " / ".join(f"{s}×{s}" for s in sorted(set(table["size"])))
    devices = ", ".join(sorted(set(table["device"])))
    ax.set_title(
        f"Cost at {sizes} input; in brackets our mean runtime on {devices} [95 % CI]",
        fontsize=MIN_FONT_PT + 1,
    )
    ax.margins(0.08)
    kinds = [
        Line2D([], [], marker="o", ls="", color="0.3", label="ours (measured)"),
        Line2D([], [], marker="o", ls="", mfc="none", color="0.3", label="paper (reported)"),
    ]
    ax.legend(
        handles=[*handles, *kinds],
        fontsize=MIN_FONT_PT,
        ncol=2,
        loc="upper center",
        bbox_to_anchor=(0.5, -0.14),
        frameon=False,
        handletextpad=0.3,
        columnspacing=1.0,
    )
    return fig
