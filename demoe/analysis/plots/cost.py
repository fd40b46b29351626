"""Fig. 6 (left): computational cost of the models, ours beside the paper's.

Reads ``results/tables/cost.csv`` (``analysis/cost_table.py``): MACs against parameters,
one filled point per model as we measure it (labelled with its mean runtime and device),
and a hollow point of the same colour where the paper reports both numbers (Table 1,
Table 5, App. F), joined to ours by a dotted line. DeMoE-5 (Sec. 5) is in the table; the
paper gives only its parameter count (50.4 M), so it has no reported point.
"""

from __future__ import annotations

import math
import os

import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

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


def cost_figure(table: pd.DataFrame) -> Figure:
    """MACs against parameters: ours (filled) and the paper's (hollow) per model."""
    fig, ax = plt.subplots(figsize=(5.6, 3.9))
    for i, row in enumerate(table.itertuples(index=False)):
        color = f"C{i % 10}"
        ax.scatter(row.params_m, row.macs_g, s=60, color=color, label=row.method)
        ax.annotate(
            f"{row.runtime_ms:.1f} ms",
            (row.params_m, row.macs_g),
            textcoords="offset points",
            xytext=(6, 4),
            fontsize=7,
        )
        if not (math.isnan(row.reported_params_m) or math.isnan(row.reported_macs_g)):
            reported = (row.reported_params_m, row.reported_macs_g)
            ax.scatter(*reported, s=90, facecolors="none", edgecolors=color, linewidths=1.2)
            ax.plot(
                [row.params_m, reported[0]], [row.macs_g, reported[1]], ":", color=color, lw=0.8
            )
    ax.set_xlabel("parameters (M)")
    ax.set_ylabel("MACs (G)")
    sizes = " / ".join(f"{s}×{s}" for s in sorted(set(table["size"])))
    devices = ", ".join(sorted(set(table["device"])))
    ax.set_title(f"Cost at {sizes} input; ours: mean runtime on {devices}", fontsize=8)
    ax.margins(0.25)
    handles, _ = ax.get_legend_handles_labels()
    kinds = [
        Line2D([], [], marker="o", ls="", color="0.3", label="ours (measured)"),
        Line2D([], [], marker="o", ls="", mfc="none", color="0.3", label="reported (paper)"),
    ]
    ax.legend(
        handles=[*handles, *kinds],
        fontsize=7,
        loc="upper left",
        bbox_to_anchor=(1.02, 1.0),
        frameon=False,
    )
    return fig
