"""Computational cost figure (paper Fig. 6 as given in the brief; Table 1 cost column).

Reads ``results/tables/cost.csv`` (method, model, params_m, macs_g, runtime_ms, size,
device), written by ``analysis/cost_table.py``.
"""

from __future__ import annotations

import os

import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.figure import Figure

from demoe.errors import DataError

COST_COLUMNS: tuple[str, ...] = ("method", "params_m", "macs_g", "runtime_ms", "size", "device")


def read_cost(path: str | os.PathLike) -> pd.DataFrame:
    """The cost table; DataError naming missing columns or an empty table."""
    table = pd.read_csv(path)
    missing = [c for c in COST_COLUMNS if c not in table.columns]
    if missing:
        raise DataError(f"{path}: missing columns {missing} (expected {list(COST_COLUMNS)})")
    if table.empty:
        raise DataError(f"{path}: no models in the cost table")
    return table


def cost_figure(table: pd.DataFrame) -> Figure:
    """MACs against parameters, one point per model labelled with its runtime."""
    fig, ax = plt.subplots(figsize=(5.2, 3.8))
    for i, row in enumerate(table.itertuples(index=False)):
        ax.scatter(row.params_m, row.macs_g, s=60, color=f"C{i % 10}", label=row.method)
        ax.annotate(
            f"{row.runtime_ms:.1f} ms",
            (row.params_m, row.macs_g),
            textcoords="offset points",
            xytext=(6, 4),
            fontsize=7,
        )
    ax.set_xlabel("parameters (M)")
    ax.set_ylabel("MACs (G)")
    sizes = sorted(set(table["size"]))
    devices = sorted(set(table["device"]))
    sizes_px = " / ".join(f"{s}×{s}" for s in sizes)
    ax.set_title(f"Cost at {sizes_px} input; median runtime on {', '.join(devices)}")
    ax.margins(0.25)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1.0), frameon=False)
    return fig
