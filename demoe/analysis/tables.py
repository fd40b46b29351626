"""Results tables of the paper (Tables 1, 2, 3, 5, 6, 8, 9; Fig. 6 right) from eval summaries.

A table is built in long ("tidy") format, one value per (method, origin, dataset,
metric) with a ``note``:

* ``reproduced``: our rows, read from the ``demoe eval`` summaries listed by
  :mod:`demoe.eval.plan` (a metric that could not be computed is NaN, noted with the
  reason, shown "n/a", never 0);
* ``reported (Table N)``: the numbers the paper reports, from
  ``config/reported/<table>.csv`` (columns ``method,dataset,metric,value,source``,
  optional ``setting``) when that file exists; a reported method named by a row's
  ``reported_as`` is printed with that row's label;
* ``reproduced − reported``: the difference wherever both exist.

The CSV keeps the long format; Markdown and LaTeX look like the paper's tables: one row
per method and origin, datasets × metrics as columns, "n/a" for unavailable metrics and
"–" where nothing was evaluated or reported, and notes (n/a reasons, RealBlur protocol,
sources) below.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path

import pandas as pd

from demoe.errors import ConfigError, DataError, DemoeError
from demoe.eval.plan import TableSpec, row_evaluations, table_specs
from demoe.io.atomic import write_text
from demoe.tasks import DATASETS

REPRODUCED = "reproduced"
DIFFERENCE = "reproduced − reported"
AVERAGE = "average"
COST = "cost"
COST_METRICS: tuple[str, ...] = ("params_m", "macs_g", "runtime_ms")
LONG_COLUMNS: list[str] = ["method", "origin", "dataset", "metric", "value", "note"]
REPORTED_COLUMNS: tuple[str, ...] = ("method", "dataset", "metric", "value", "source")
METRIC_LABELS: dict[str, str] = {
    "psnr": "PSNR↑",
    "ssim": "SSIM↑",
    "lpips": "LPIPS↓",
    "niqe": "NIQE↓",
    "musiq": "MUSIQ↑",
    "nrqm": "NRQM↑",
    "params_m": "Params (M)",
    "macs_g": "MACs (G)",
    "runtime_ms": "Runtime (ms)",
}
DECIMALS: dict[str, int] = {
    "psnr": 2,
    "ssim": 4,
    "lpips": 4,
    "niqe": 3,
    "musiq": 2,
    "nrqm": 3,
    "params_m": 2,
    "macs_g": 1,
    "runtime_ms": 1,
}
#: Unicode in labels and cells → LaTeX (the .tex must compile with pdflatex).
LATEX_SYMBOLS: dict[str, str] = {
    "↑": r"$\uparrow$",
    "↓": r"$\downarrow$",
    "†": r"$^\dagger$",
    "−": "$-$",
    "–": "--",
    "×": r"$\times$",
}
NOT_AVAILABLE = "n/a"
ABSENT = "–"
ALIGNED_MARK = "†"


def reported_origin(spec: TableSpec) -> str:
    """Origin label of the paper's numbers: ``reported (Table N)`` / ``reported (Fig. 6)``."""
    where = spec.number if spec.number.startswith("Fig") else f"Table {spec.number}"
    return f"reported ({where})"


def load_summary(path: str | Path) -> dict:
    """One ``demoe eval --summary`` JSON; DataError naming the file when missing or broken."""
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as err:
        raise DataError(f"evaluation summary not found: {path} (run its `evaluate` job)") from err
    except json.JSONDecodeError as err:
        raise DataError(f"evaluation summary {path} is not valid JSON: {err}") from err


def reproduced_rows(
    spec: TableSpec, results: str | Path, datasets: Iterable[str] | None = None
) -> tuple[pd.DataFrame, set[str]]:
    """Long rows of our evaluations and the datasets evaluated with ECC alignment."""
    keep = set(DATASETS if datasets is None else datasets)
    records, aligned = [], set()
    for row in spec.rows:
        for ev in row_evaluations(spec, row):
            if ev.dataset not in keep:
                continue
            summary = load_summary(ev.path(results))
            if summary.get("aligned"):
                aligned.add(ev.dataset)
            means, reasons = summary["means"], summary.get("unavailable", {})
            for metric in spec.metrics:
                if metric in means:
                    value = _float(means[metric])
                    note = reasons.get(metric, "") if math.isnan(value) else ""
                    records.append((row.label, REPRODUCED, ev.dataset, metric, value, note))
    return pd.DataFrame(records, columns=LONG_COLUMNS), aligned


def _float(value: float | str | None) -> float:
    return math.nan if value is None else float(value)


def with_average(long: pd.DataFrame, spec: TableSpec) -> pd.DataFrame:
    """Add the mean over the table's datasets per method, origin and metric (Table 1 style).

    Only where every dataset has a value; otherwise n/a with the reason (never a
    partial mean). Existing (reported) averages are kept as they are.
    """
    if not spec.average or long.empty:
        return long
    per_set = long[long["dataset"].isin(spec.datasets)]
    has_avg = set(
        map(tuple, long.loc[long["dataset"] == AVERAGE, ["method", "origin", "metric"]].values)
    )
    records = []
    for (method, origin, metric), group in per_set.groupby(
        ["method", "origin", "metric"], sort=False
    ):
        if (method, origin, metric) in has_avg:
            continue
        values = group.set_index("dataset")["value"].reindex(list(spec.datasets))
        if values.notna().all():
            records.append((method, origin, AVERAGE, metric, float(values.mean()), ""))
        elif origin == REPRODUCED:
            missing = ", ".join(DATASETS[d].display for d in values[values.isna()].index)
            note = f"no {metric.upper()} average: n/a or not evaluated on {missing}"
            records.append((method, origin, AVERAGE, metric, math.nan, note))
    return pd.concat([long, pd.DataFrame(records, columns=LONG_COLUMNS)], ignore_index=True)


def cost_rows(spec: TableSpec, cost_csv: str | Path) -> pd.DataFrame:
    """Table 1 computational cost of each row's model, from ``results/tables/cost.csv``."""
    cost = pd.read_csv(cost_csv).set_index("model")
    records = []
    for row in spec.rows:
        if row.cost_model is None:
            continue
        if row.cost_model not in cost.index:
            raise DataError(
                f"{cost_csv} has no model {row.cost_model!r} (row {row.label!r}); "
                "add it to config cost.models"
            )
        for metric in COST_METRICS:
            value = float(cost.loc[row.cost_model, metric])
            records.append((row.label, REPRODUCED, COST, metric, value, ""))
    return pd.DataFrame(records, columns=LONG_COLUMNS)


def read_reported(path: str | Path, spec: TableSpec) -> pd.DataFrame:
    """The paper's values for ``spec`` as long rows (origin ``reported (Table N)``).

    Methods named by a row's ``reported_as`` get that row's label; a ``setting`` column,
    when present, is appended to the method name. Bad files: ConfigError naming them.
    """
    path = Path(path)
    raw = pd.read_csv(path)
    missing = [c for c in REPORTED_COLUMNS if c not in raw.columns]
    if missing:
        raise ConfigError(f"{path}: missing columns {missing}; expected {list(REPORTED_COLUMNS)}")
    valid = {*DATASETS, AVERAGE, COST}
    bad = sorted(set(raw["dataset"]) - valid)
    if bad:
        raise ConfigError(f"{path}: unknown datasets {bad}; valid: {sorted(valid)}")
    labels = {r.reported_as: r.label for r in spec.rows if r.reported_as}
    method = raw["method"].map(lambda m: labels.get(m, m))
    if "setting" in raw.columns:
        setting = raw["setting"].fillna("").astype(str)
        method = method.where(setting == "", method + " (" + setting + ")")
    return pd.DataFrame(
        {
            "method": method,
            "origin": reported_origin(spec),
            "dataset": raw["dataset"],
            "metric": raw["metric"].str.lower(),
            "value": pd.to_numeric(raw["value"], errors="raise"),
            "note": "source: " + raw["source"].astype(str),
        }
    )


def differences(long: pd.DataFrame, spec: TableSpec) -> pd.DataFrame:
    """Reproduced − reported for every (method, dataset, metric) that has both."""
    key = ["method", "dataset", "metric"]
    ours = long[long["origin"] == REPRODUCED]
    theirs = long[long["origin"] == reported_origin(spec)]
    both = ours.merge(theirs, on=key, suffixes=("", "_rep"))
    both = both[both["value"].notna() & both["value_rep"].notna()]
    out = both[key].assign(origin=DIFFERENCE, value=both["value"] - both["value_rep"], note="")
    return out[LONG_COLUMNS]


def build_table(
    spec: TableSpec,
    results: str | Path,
    reported: str | Path | None = None,
    cost_csv: str | Path | None = None,
    datasets: Iterable[str] | None = None,
) -> tuple[pd.DataFrame, set[str]]:
    """The full long table of ``spec`` and the ECC-aligned datasets."""
    long, aligned = reproduced_rows(spec, results, datasets)
    parts = [long]
    if spec.cost and cost_csv is not None:
        parts.append(cost_rows(spec, cost_csv))
    if reported is not None and Path(reported).is_file():
        parts.append(read_reported(reported, spec))
    long = with_average(pd.concat([p for p in parts if not p.empty], ignore_index=True), spec)
    diff = differences(long, spec)
    if not diff.empty:
        long = pd.concat([long, diff], ignore_index=True)
    return _ordered(long, spec), aligned


def _ordered(long: pd.DataFrame, spec: TableSpec) -> pd.DataFrame:
    """Rows grouped by method (table order), then origin, dataset and metric order."""
    methods = list(dict.fromkeys([r.label for r in spec.rows] + list(long["method"])))
    origins = [REPRODUCED, reported_origin(spec), DIFFERENCE]
    columns = [*spec.datasets, AVERAGE, COST]
    metrics = [*spec.metrics, *COST_METRICS]
    ranks = {
        "method": methods,
        "origin": origins,
        "dataset": columns,
        "metric": metrics + sorted(set(long["metric"]) - set(metrics)),
    }
    keys = {c: long[c].map({v: i for i, v in enumerate(order)}) for c, order in ranks.items()}
    order = pd.DataFrame(keys).fillna(len(long)).sort_values(list(ranks), kind="stable").index
    return long.loc[order].reset_index(drop=True)


def format_value(value: float, metric: str, origin: str) -> str:
    """A cell as printed: fixed decimals per metric, "n/a" for NaN, sign on differences."""
    if math.isnan(value):
        return NOT_AVAILABLE
    sign = "+" if origin == DIFFERENCE else ""
    return f"{value:{sign}.{DECIMALS.get(metric, 3)}f}"


def wide(long: pd.DataFrame, spec: TableSpec, aligned: set[str]) -> pd.DataFrame:
    """The paper's layout: (method, origin) rows × (dataset, metric) columns, as strings."""
    cells = long.assign(
        cell=[
            format_value(v, m, o)
            for v, m, o in zip(long.value, long.metric, long.origin, strict=True)
        ],
        column=[
            (_dataset_label(d, aligned), METRIC_LABELS.get(m, m))
            for d, m in zip(long.dataset, long.metric, strict=True)
        ],
    )
    table = cells.pivot_table(
        index=["method", "origin"], columns="column", values="cell", aggfunc="first", sort=False
    )
    table.columns = pd.MultiIndex.from_tuples(table.columns)
    table = table.fillna(ABSENT)
    table.index.names = ["Method", "Origin"]
    return table


def _dataset_label(dataset: str, aligned: set[str]) -> str:
    if dataset == AVERAGE:
        return "Average"
    if dataset == COST:
        return "Computational cost"
    return DATASETS[dataset].display + (ALIGNED_MARK if dataset in aligned else "")


def notes(long: pd.DataFrame, aligned: set[str], extra: Sequence[str] = ()) -> list[str]:
    """Notes under the table: protocol, n/a reasons, sources of reported values."""
    lines = []
    if aligned:
        names = ", ".join(DATASETS[d].display for d in DATASETS if d in aligned)
        lines.append(
            f"{ALIGNED_MARK} {names}: prediction ECC-aligned (translation) to the ground truth "
            "before the metrics (RealBlur protocol)."
        )
    lines += list(extra)
    reasons = long.loc[long["value"].isna() & (long["note"] != ""), ["metric", "note"]]
    for metric, note in dict.fromkeys(map(tuple, reasons.values)):
        lines.append(f"{NOT_AVAILABLE} ({metric.upper()}): {note}")
    sources = long.loc[long["note"].str.startswith("source: "), "note"]
    lines += [f"Reported values, {s}" for s in dict.fromkeys(sources)]
    lines.append(f"{ABSENT}: not evaluated or not reported.")
    return lines


def render_markdown(table: pd.DataFrame, spec: TableSpec, lines: Sequence[str]) -> str:
    flat = table.copy()
    flat.columns = [f"{d} {m}" for d, m in flat.columns]
    body = flat.reset_index().to_markdown(index=False, disable_numparse=True)
    return f"**{_caption(spec)}**\n\n{body}\n\n" + "".join(f"- {n}\n" for n in lines)


def render_latex(table: pd.DataFrame, spec: TableSpec, lines: Sequence[str]) -> str:
    tex = table.to_latex(
        caption=_caption(spec),
        label=f"tab:{spec.name}",
        multicolumn_format="c",
        escape=True,
    )
    tex += "".join(f"% {n}\n" for n in lines)
    return tex.translate(str.maketrans(LATEX_SYMBOLS))


def _caption(spec: TableSpec) -> str:
    where = spec.number if spec.number.startswith("Fig") else f"Table {spec.number}"
    return f"{where}: {spec.title}"


def write_table(
    prefix: str | Path,
    long: pd.DataFrame,
    spec: TableSpec,
    aligned: set[str],
    extra: Sequence[str] = (),
) -> list[Path]:
    """Write ``<prefix>.csv`` (long), ``.md`` and ``.tex`` atomically; returns the paths."""
    table, lines = wide(long, spec, aligned), notes(long, aligned, extra)
    prefix = Path(prefix)
    paths = [prefix.with_suffix(s) for s in (".csv", ".md", ".tex")]
    write_text(paths[0], long.to_csv(index=False, float_format="%.6g"))
    write_text(paths[1], render_markdown(table, spec, lines))
    write_text(paths[2], render_latex(table, spec, lines))
    return paths


def main(name: str, argv: Sequence[str] | None = None) -> None:
    """Command line of the ``analysis/table*.py`` scripts: build and write table ``name``."""
    parser = argparse.ArgumentParser(description=f"results table {name}")
    parser.add_argument("--results", required=True, help="results folder (eval summaries)")
    parser.add_argument("--reported", help="config/reported/<table>.csv (used when it exists)")
    parser.add_argument("--cost", help="results/tables/cost.csv (Table 1)")
    parser.add_argument("--datasets", nargs="+", help="datasets present (default: all)")
    parser.add_argument("--tlc-experts", nargs="+", default=["synth_global_motion"])
    parser.add_argument("--note", action="append", default=[], help="extra note line")
    parser.add_argument(
        "--fixed-weights",
        action="append",
        default=[],
        metavar="EXPERIMENT=FILE",
        help="experiment evaluated with given weights (config checkpoints:), labelled by FILE",
    )
    parser.add_argument("--out", required=True, help="output prefix (.csv, .md, .tex)")
    args = parser.parse_args(argv)
    fixed = dict(item.split("=", 1) for item in args.fixed_weights)
    spec = table_specs(args.tlc_experts, fixed)[name]
    try:
        long, aligned = build_table(spec, args.results, args.reported, args.cost, args.datasets)
    except DemoeError as err:
        sys.exit(f"{name}: error: {err}")
    for path in write_table(args.out, long, spec, aligned, args.note):
        print(path)
