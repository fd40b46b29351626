"""Fig. 10: LOLBlur MSE histogram with the four bins of the AIO-Blur subsampling rule.

Paper App. B. Reads mse_pairs.csv and build_report.json (from `demoe data build-aioblur`):
the MSE between blurry and sharp of every LOLBlur training pair, the four
equal-width bins, the dropped last bin, and how many pairs were drawn per bin.
Writes results/figures/fig10_lolblur_mse.{pdf,png}.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from demoe.analysis.plots.cli import figure_parser, run, save
from demoe.errors import DataError


def draw(mse: pd.DataFrame, summary: dict, dataset: str) -> plt.Figure:
    """Fine histogram of the MSE, coloured by kept/dropped bin, with per-bin counts."""
    edges = np.array(summary["edges"])
    kept = set(summary["kept_bins"])
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    fine = np.linspace(edges[0], edges[-1], 4 * 12 + 1)
    colors = sns.color_palette("deep")
    for b in range(len(edges) - 1):
        values = mse.loc[mse["bin"] == b, "mse"]
        color = colors[0] if b in kept else colors[3]
        ax.hist(values, bins=fine, color=color, alpha=0.85, edgecolor="white", linewidth=0.4)
    for e in edges:
        ax.axvline(e, color="0.2", linestyle="--", linewidth=0.8)
    top = ax.get_ylim()[1]
    ax.set_ylim(0, top * 1.5)
    drawn = dict(zip(summary["kept_bins"], summary["drawn"], strict=True))
    for b in range(len(edges) - 1):
        label = f"bin {b + 1}\n{summary['counts'][b]} pairs\n"
        label += f"{drawn[b]} drawn" if b in kept else "dropped"
        ax.text((edges[b] + edges[b + 1]) / 2, top * 1.45, label, ha="center", va="top", fontsize=8)
    ax.set_xlabel("MSE(blurry, sharp)")
    ax.set_ylabel("training pairs")
    ax.set_title(f"{dataset}: MSE histogram and subsampling bins")
    handles = [
        plt.Rectangle((0, 0), 1, 1, color=colors[0]),
        plt.Rectangle((0, 0), 1, 1, color=colors[3]),
    ]
    ax.legend(handles, ["kept bins", "dropped bin"], loc="center right", fontsize=8)
    fig.tight_layout()
    return fig


def main(argv: Sequence[str] | None = None) -> None:
    parser = figure_parser(__doc__)
    parser.add_argument("--report", required=True, help="build_report.json")
    parser.add_argument("--mse", required=True, help="mse_pairs.csv")
    parser.add_argument("--dataset", default="lolblur")
    args = parser.parse_args(argv)
    report = json.loads(Path(args.report).read_text(encoding="utf-8"))
    entry = report["datasets"][args.dataset]
    summary = entry.get("balance", {}).get("mse")
    if summary is None:
        raise DataError(f"{args.dataset} was not subsampled by the MSE rule: no Fig. 10 data")
    mse = pd.read_csv(args.mse)
    sns.set_theme(style="whitegrid")
    save(draw(mse[mse["dataset"] == args.dataset], summary, entry["display"]), args)


if __name__ == "__main__":
    sys.exit(run(main))
