"""The cost table: every model the paper gives a size for, ours beside the paper's.

Writes results/tables/cost.{csv,md}: per model preset, parameters (M), MACs (G) at
size×size (ptflops, see ``demoe.eval.cost``) and mean runtime (ms) on the named device
with the 95 % interval of that mean over its timing repeats (``runtime_ci_low``,
``runtime_ci_high``; parameters and MACs are exact), beside the reported values of
Table 1 (NAFNet, DeMoE k=1), Table 5 (right, and the width-64 model of App. F) and Sec. 5
(DeMoE-5), read from ``config/reported/``. The paper's runtimes are on an RTX 4090
(Table 1), so runtimes on another device do not compare directly; the ``device`` column
says which. The timing repeats themselves (``model, repeat, runtime_ms``; the models
timed interleaved, so repeat ``r`` of two models pair) go to ``--repeats-csv``.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from demoe.analysis.intervals import IntervalSettings, Observations, estimate, mean_over_strata
from demoe.analysis.table_render import markdown_notes, parse_intervals
from demoe.analysis.tables import RUNTIME_CI_COLUMNS
from demoe.errors import ConfigError, run_reporting_errors
from demoe.eval.cost import cost_table
from demoe.experiments.paper_rows import COST_ROWS
from demoe.io.atomic import write_text
from demoe.models.registry import add_preset


def runtime_observations(repeats: pd.DataFrame) -> Observations:
    """One model's timing repeats (rows of ``cost_runtime_repeats.csv``) as one stratum
    whose id is the repeat numbers, so two models timed in the same rounds pair."""
    rows = repeats.sort_values("repeat")
    key = ("repeats", tuple(int(r) for r in rows["repeat"]))
    return Observations({key: rows["runtime_ms"].to_numpy(dtype=float)[None, :]}, mean_over_strata)


def with_runtime_interval(
    table: pd.DataFrame, repeats: pd.DataFrame, settings: IntervalSettings
) -> pd.DataFrame:
    """``table`` with :data:`RUNTIME_CI_COLUMNS` after ``runtime_ms``: per model, the
    bootstrap interval of its mean runtime over its repeats."""
    intervals = {}
    for model, rows in repeats.groupby("model", sort=False):
        interval = estimate([runtime_observations(rows)], settings=settings)
        intervals[model] = (interval.low, interval.high)
    out = table.copy()
    at = list(out.columns).index("runtime_ms") + 1
    for i, column in enumerate(RUNTIME_CI_COLUMNS):
        out.insert(at + i, column, [intervals[m][i] for m in out["model"]])
    return out


#: The Markdown's column headings (the CSV keeps the short names).
HEADINGS: dict[str, str] = {
    "model": "Model preset",
    "method": "Paper row",
    "params_m": "Params (M)",
    "macs_g": "MACs (G)",
    "runtime_ms": "Runtime (ms) [95 % interval]",
    "size": "Input (px)",
    "device": "Device",
    "reported_params_m": "Params (M), reported",
    "reported_macs_g": "MACs (G), reported",
    "reported_runtime_ms": "Runtime (ms), reported (RTX 4090)",
}


CAPTION = "Computational cost (Table 1's cost columns; Table 5, right; Fig. 6, left)"


def markdown(table: pd.DataFrame) -> str:
    """The table as Markdown for readers: headings in words, the runtime with its interval
    (``525 [510, 540]``), "—" where the paper gives no number."""
    runtime = table[["runtime_ms", *RUNTIME_CI_COLUMNS]].itertuples(index=False)
    shown = table.drop(columns=list(RUNTIME_CI_COLUMNS))
    shown["runtime_ms"] = [f"{v:.4g} [{low:.4g}, {high:.4g}]" for v, low, high in runtime]
    for column in ("params_m", "macs_g", *(c for c in shown if c.startswith("reported_"))):
        shown[column] = [f"{v:.4g}" if pd.notna(v) else "—" for v in shown[column]]
    shown = shown.rename(columns=HEADINGS)
    return shown.to_markdown(index=False, floatfmt=".4g", disable_numparse=True) + "\n"


def parse_model_repeats(items: Sequence[str]) -> dict[str, int]:
    """``--model-repeats NAME=N ...`` (cost.runtime_repeats_per_model) as a mapping."""
    counts = {}
    for item in items:
        name, _, count = item.partition("=")
        if not name or not count.isdigit():
            raise ConfigError(f"--model-repeats expects NAME=N, got {item!r}")
        counts[name] = int(count)
    return counts


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", required=True)
    parser.add_argument(
        "--reported", nargs="*", default=[], help="config/reported/ files with the paper's costs"
    )
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeats", type=int, default=10, help="timed forwards per model")
    parser.add_argument(
        "--model-repeats", nargs="*", default=[], help="NAME=N: another count for NAME"
    )
    parser.add_argument("--warmup", type=int, default=3, help="untimed forwards per model")
    parser.add_argument(
        "--intervals", default="{}", help="interval settings, JSON (analysis.intervals)"
    )
    parser.add_argument(
        "--model-config",
        nargs="*",
        default=[],
        help='NAME=JSON: the preset of a user\'s model ({"architecture": "user:mod:Class", ...})',
    )
    parser.add_argument("--csv", required=True)
    parser.add_argument("--md", required=True)
    parser.add_argument("--repeats-csv", required=True, help="the timing repeats")
    parser.add_argument(
        "--note",
        action="append",
        default=[],
        help="a note under the table (the run's scale, what the columns describe)",
    )
    args = parser.parse_args(argv)
    for item in args.model_config:
        name, _, config = item.partition("=")
        try:
            add_preset(name, json.loads(config))
        except (json.JSONDecodeError, TypeError) as exc:
            raise ConfigError(f"--model-config expects NAME=JSON, got {item!r}: {exc}") from exc

    settings = parse_intervals(args.intervals)
    measured = cost_table(
        args.models,
        args.reported,
        COST_ROWS,
        args.size,
        args.device,
        args.repeats,
        args.warmup,
        model_repeats=parse_model_repeats(args.model_repeats),
    )
    table = with_runtime_interval(measured.table, measured.repeats, settings)
    write_text(args.repeats_csv, measured.repeats.to_csv(index=False, float_format="%.6g"))
    write_text(args.csv, table.to_csv(index=False, float_format="%.6g"))
    write_text(args.md, f"**{CAPTION}**\n\n{markdown(table)}\n{markdown_notes(args.note)}")


if __name__ == "__main__":
    sys.exit(run_reporting_errors(Path(sys.argv[0]).name, main))
