"""Results tables of the paper (Tables 1, 2, 3, 5, 6, 7, 8, 9; Fig. 6 (right)): building them.

A table has the paper's rows in the paper's order. Those rows are the methods of
``config/reported/<table>.csv``, in the file's order, as shown by :func:`paper_file`. Each
row is shown in up to three forms:

* ``reported (Table N)``: the paper's numbers. Methods that demoe does not train (PromptIR,
  Restormer, LEDNet, ...) appear only in this form.
* ``reproduced``: our numbers, read from the ``demoe eval`` summaries of the model that
  :data:`demoe.experiments.paper_rows.REPRODUCES` names for that paper row. A metric that
  could not be computed is NaN (shown as "n/a" with its reason), never 0.
* ``reproduced − reported``: the difference, wherever both exist.

Rows of the evaluation plan (:mod:`demoe.experiments.paper_tables`) that reproduce no paper
row of the table come after the paper's rows, under their own labels. Rows that reproduce a
paper row of another table are shown there instead.

This module builds the long table (``method, origin, dataset, metric, value, note``, the
CSV): the rows, the evaluation summaries, the paper's values, averages, cost and
differences. :mod:`demoe.analysis.table_render` formats and writes it in the paper's layout.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from demoe.errors import ConfigError, DataError
from demoe.eval.registry import metric_names
from demoe.experiments.paper_rows import AUTO, REPRODUCES, paper_row_label
from demoe.experiments.paper_tables import (
    Evaluation,
    TableSpec,
    needed_evaluations,
    row_evaluations,
    source_evaluations,
    table_specs,
)
from demoe.tasks import DATASETS

REPRODUCED = "reproduced"
DIFFERENCE = "reproduced − reported"
AVERAGE = "average"
COST = "cost"
#: The cost columns (Tables 1, 5, 7): model sizes from results/tables/cost.csv, not image
#: metrics (those are demoe.eval.registry's); they come after the image metrics.
COST_METRICS: tuple[str, ...] = ("params_m", "macs_g", "runtime_ms")
LONG_COLUMNS: list[str] = ["method", "origin", "dataset", "metric", "value", "note"]
REPORTED_COLUMNS: tuple[str, ...] = ("method", "dataset", "metric", "value", "source")
#: config/reported file of a table whose name differs from the table's.
PAPER_FILES: dict[str, str] = {"table_fig06_training_strategy": "fig06_training_strategy.csv"}
#: Tables whose cost columns (params, MACs, runtime) come from results/tables/cost.csv.
COST_TABLES: frozenset[str] = frozenset(
    {"table1_aio_deblurring", "table5_ablations", "table7_expert_blocks"}
)
#: Metrics the paper's table has beyond the plan's (LPIPS in Tables 5, 6 and Fig. 6 (right)).
EXTRA_METRICS: dict[str, tuple[str, ...]] = {
    "table5_ablations": ("lpips",),
    "table6_tlc": ("lpips",),
    "table_fig06_training_strategy": ("lpips",),
}


def metric_order() -> list[str]:
    """Metric order inside a column group: the registered image metrics (the paper's
    order: Tables 1-3, 5-9), then the cost columns."""
    return [*metric_names(), *COST_METRICS]


@dataclass(frozen=True)
class ShownRow:
    """A row of the produced table: its label and the evaluations behind it."""

    label: str
    evaluations: tuple[Evaluation, ...]
    ours: str  # what we evaluate, for the notes
    paper: bool  # reproduces a row of the paper's table


def reported_origin(spec: TableSpec) -> str:
    """Origin label of the paper's numbers: ``reported (Table N)`` / ``reported (Fig. 6)``."""
    where = spec.number if spec.number.startswith("Fig") else f"Table {spec.number}"
    return f"reported ({where})"


def paper_file(reported_dir: str | Path, spec: TableSpec) -> Path:
    """``config/reported/<file>.csv`` of ``spec`` (it may not exist)."""
    return Path(reported_dir) / PAPER_FILES.get(spec.name, f"{spec.name}.csv")


def uses_cost(spec: TableSpec) -> bool:
    """Whether the table has the paper's cost columns (Tables 1, 5 and 7)."""
    return spec.cost or spec.name in COST_TABLES


def table_metrics(spec: TableSpec) -> tuple[str, ...]:
    """The metrics read from our evaluations: the plan's and the paper's table's."""
    return tuple(dict.fromkeys((*spec.metrics, *EXTRA_METRICS.get(spec.name, ()))))


def _describe(evaluations: Sequence[Evaluation]) -> str:
    experiments = ", ".join(dict.fromkeys(e.experiment for e in evaluations))
    experts = set(e.expert for e in evaluations)
    text = f"`{experiments}`"
    if experts != {AUTO}:
        text += " with " + (
            f"expert {experts.pop()}" if len(experts) == 1 else "the dataset's own expert"
        )
    scopes = {e.tlc for e in evaluations} - {None}
    return text + (f", TLC on {scopes.pop()}" if scopes else "")


def shown_rows(
    spec: TableSpec,
    specs: Mapping[str, TableSpec] | None = None,
    datasets: Iterable[str] | None = None,
) -> list[ShownRow]:
    """Our rows of ``spec``: first those reproducing a paper row, then the plan's other rows.

    Only evaluations the plan runs are used (``needed_evaluations`` of ``specs``). A plan
    row whose evaluations all reproduce a paper row of another table is left to that table.
    """
    specs = table_specs() if specs is None else specs
    keep = set(DATASETS if datasets is None else datasets)
    available = set(needed_evaluations(specs.values(), keep))

    def mapped(table: TableSpec) -> dict[str, tuple[Evaluation, ...]]:
        out = {}
        for label, source in REPRODUCES.get(table.name, {}).items():
            evals = tuple(e for e in source_evaluations(source, table) if e in available)
            if evals:
                out[label] = evals
        return out

    rows = [ShownRow(k, v, _describe(v), True) for k, v in mapped(spec).items()]
    here = {e for r in rows for e in r.evaluations}
    elsewhere = {
        e for s in specs.values() if s.name != spec.name for v in mapped(s).values() for e in v
    }
    for row in spec.rows:  # a row reproducing a paper row (its reported_as) is among "here"
        evals = tuple(e for e in row_evaluations(spec, row) if e.dataset in keep)
        if evals and not set(evals) <= here and not set(evals) <= elsewhere:
            rows.append(ShownRow(row.label, evals, _describe(evals), False))
    return rows


def table_evaluations_shown(
    spec: TableSpec,
    specs: Mapping[str, TableSpec] | None = None,
    datasets: Iterable[str] | None = None,
) -> list[Evaluation]:
    """Every evaluation summary the table reads (the Snakemake inputs)."""
    return list(dict.fromkeys(e for r in shown_rows(spec, specs, datasets) for e in r.evaluations))


def load_summary(path: str | Path) -> dict:
    """One ``demoe eval --summary`` JSON; DataError naming the file when missing or broken."""
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as err:
        raise DataError(
            f"evaluation summary not found: {path} (run its `evaluate_<experiment>` job)"
        ) from err
    except json.JSONDecodeError as err:
        raise DataError(f"evaluation summary {path} is not valid JSON: {err}") from err


def reproduced_rows(
    spec: TableSpec,
    results: str | Path,
    rows: Sequence[ShownRow],
    paper_metrics: Mapping[str, set[str]] | None = None,
) -> tuple[pd.DataFrame, set[str]]:
    """Long rows of our evaluations and the datasets evaluated with ECC alignment.

    ``paper_metrics``: per dataset, the metrics the paper's table reports. One that a
    summary lacks (not computed, e.g. MUSIQ/NRQM not configured) is n/a with that reason.
    """
    paper_metrics = paper_metrics or {}
    records, aligned = [], set()
    for row in rows:
        for ev in row.evaluations:
            summary = load_summary(ev.path(results))
            if summary.get("aligned"):
                aligned.add(ev.dataset)
            means, reasons = summary["means"], summary.get("unavailable", {})
            for metric in table_metrics(spec):
                if metric in means:
                    value = _float(means[metric])
                    note = reasons.get(metric, "") if math.isnan(value) else ""
                    records.append((row.label, REPRODUCED, ev.dataset, metric, value, note))
                elif metric in paper_metrics.get(ev.dataset, ()):
                    note = f"not in the evaluation summary ({metric} not computed; config eval)"
                    records.append((row.label, REPRODUCED, ev.dataset, metric, math.nan, note))
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


def cost_rows(
    rows: Sequence[ShownRow], specs: Mapping[str, TableSpec], cost_csv: str | Path
) -> pd.DataFrame:
    """Cost (params, MACs, runtime) of each single-model row, from ``results/tables/cost.csv``.

    The model is the plan row's ``cost_model`` for that experiment, else a cost.csv model
    named like the experiment; rows with neither keep the paper's cost only.
    """
    cost = pd.read_csv(cost_csv).set_index("model")
    named = {r.experiment: r.cost_model for s in specs.values() for r in s.rows if r.cost_model}
    records = []
    for row in rows:
        experiments = {e.experiment for e in row.evaluations}
        if len(experiments) != 1:
            continue
        experiment = experiments.pop()
        model = named.get(experiment, experiment)
        if model not in cost.index:
            if experiment in named:
                raise DataError(
                    f"{cost_csv} has no model {model!r} (row {row.label!r}); "
                    "add it to config cost.models"
                )
            continue
        for metric in COST_METRICS:
            value = float(cost.loc[model, metric])
            records.append((row.label, REPRODUCED, COST, metric, value, ""))
    return pd.DataFrame(records, columns=LONG_COLUMNS)


def read_reported(path: str | Path, spec: TableSpec) -> pd.DataFrame:
    """The paper's values for ``spec`` as long rows (origin ``reported (Table N)``).

    The method is labelled with its ``setting`` (marks such as † or the TLC scope). A cost
    column (no dataset) goes to the ``cost`` column group. An illegible cell (no value)
    is NaN with its source. Bad files: ConfigError naming them.
    """
    path = Path(path)
    raw = pd.read_csv(path, dtype=str, keep_default_na=False)
    missing = [c for c in REPORTED_COLUMNS if c not in raw.columns]
    if missing:
        raise ConfigError(f"{path}: missing columns {missing}; expected {list(REPORTED_COLUMNS)}")
    is_cost = raw["metric"].str.lower().isin(COST_METRICS) & (raw["dataset"] == "")
    dataset = raw["dataset"].where(~is_cost, COST)
    valid = {*DATASETS, AVERAGE, COST}
    bad = sorted(set(dataset) - valid)
    if bad:
        raise ConfigError(f"{path}: unknown datasets {bad}; valid: {sorted(valid - {COST})}")
    setting = raw["setting"] if "setting" in raw.columns else pd.Series("", index=raw.index)
    try:
        value = pd.to_numeric(raw["value"].replace("", math.nan), errors="raise")
    except ValueError as err:
        raise ConfigError(f"{path}: a value is not a number: {err}") from err
    return pd.DataFrame(
        {
            "method": [paper_row_label(m, s) for m, s in zip(raw["method"], setting, strict=True)],
            "origin": reported_origin(spec),
            "dataset": dataset,
            "metric": raw["metric"].str.lower(),
            "value": value,
            "note": "source: " + raw["source"],
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
    specs: Mapping[str, TableSpec] | None = None,
) -> tuple[pd.DataFrame, set[str]]:
    """The full long table of ``spec`` and the ECC-aligned datasets.

    ``specs``: every table of the plan (default :func:`table_specs`), which decides the
    evaluations available and the rows shown in other tables.
    """
    specs = table_specs() if specs is None else specs
    rows = shown_rows(spec, specs, datasets)
    paper = pd.DataFrame(columns=LONG_COLUMNS)
    if reported is not None and Path(reported).is_file():
        paper = read_reported(reported, spec)
    paper_metrics = paper.groupby("dataset")["metric"].agg(set).to_dict()
    long, aligned = reproduced_rows(spec, results, rows, paper_metrics)
    parts = [long, paper]
    if uses_cost(spec) and cost_csv is not None:
        parts.append(cost_rows(rows, specs, cost_csv))
    parts = [p for p in parts if not p.empty]
    long = pd.concat(parts, ignore_index=True) if parts else long
    long = with_average(long, spec)
    diff = differences(long, spec)
    if not diff.empty:
        long = pd.concat([long, diff], ignore_index=True)
    return _ordered(long, spec, [r.label for r in rows]), aligned


def _ordered(long: pd.DataFrame, spec: TableSpec, ours: Sequence[str]) -> pd.DataFrame:
    """The paper's rows in its order, then ours; per row: origin, column, metric order."""
    paper = long.loc[long["origin"] == reported_origin(spec), "method"]
    ranks = {
        "method": list(dict.fromkeys([*paper, *ours])),
        "origin": [REPRODUCED, reported_origin(spec), DIFFERENCE],
        "dataset": column_order(long, spec),
        "metric": metric_order() + sorted(set(long["metric"]) - set(metric_order())),
    }
    keys = {c: long[c].map({v: i for i, v in enumerate(order)}) for c, order in ranks.items()}
    order = pd.DataFrame(keys).fillna(len(long)).sort_values(list(ranks), kind="stable").index
    return long.loc[order].reset_index(drop=True)


def column_order(long: pd.DataFrame, spec: TableSpec) -> list[str]:
    """Cost first, then the datasets in the paper's order (its file's), then the average."""
    paper = long.loc[long["origin"] == reported_origin(spec), "dataset"]
    present = set(long["dataset"])
    order = [COST, *dict.fromkeys(paper), *spec.datasets]
    order = [d for d in dict.fromkeys(order) if d != AVERAGE and d in present]
    return order + ([AVERAGE] if AVERAGE in present else [])


def display_columns(long: pd.DataFrame, spec: TableSpec) -> list[str]:
    """The column groups printed: the paper's only where it gives averages only (Table 5)."""
    columns = column_order(long, spec)
    paper = set(long.loc[long["origin"] == reported_origin(spec), "dataset"])
    if paper and paper <= {AVERAGE, COST}:
        return [c for c in columns if c in paper]
    return columns
