"""Results tables of the paper (Tables 1, 2, 3, 5, 6, 7, 8, 9; Fig. 6 (right)): building them.

A table has the paper's rows in the paper's order. Those rows are the methods of
``config/reported/<table>.csv``, in the file's order, as shown by :func:`paper_file`. Each
row is shown in up to three forms:

* ``reported (Table N)``: the paper's numbers. Methods that demoe does not train (PromptIR,
  Restormer, LEDNet, ...) appear only in this form.
* ``reproduced``: our numbers, from the ``demoe eval`` per-image results of the model that
  :data:`demoe.experiments.paper_rows.REPRODUCES` names for that paper row (the mean over
  the dataset's images, and over the seeds of a replicated experiment), with their 95 %
  bootstrap interval (:mod:`demoe.analysis.table_intervals`). A metric that could not be
  computed is NaN (shown as "n/a" with its reason, from the summary), never 0.
* ``reproduced − reported``: the difference, wherever both exist; its interval is the
  reproduced interval shifted by the paper's number (a constant).

Rows of the evaluation plan (:mod:`demoe.experiments.paper_tables`) that reproduce no paper
row of the table come after the paper's rows, under their own labels. Rows that reproduce a
paper row of another table are shown there instead. Where the paper compares two of its
rows that we both reproduce (:data:`COMPARISONS`), a ``paired difference (ours)`` row
``A − B`` follows row A, with the paired interval of the difference.

This module builds the long table (:data:`LONG_COLUMNS`, the CSV): the rows, the
evaluations, the paper's values, averages, cost, differences and intervals.
:mod:`demoe.analysis.table_render` formats and writes it in the paper's layout.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from demoe.analysis.intervals import IntervalSettings
from demoe.analysis.table_intervals import (
    PerImage,
    Quantity,
    check_paired,
    load_per_image,
    per_image_paths,
)
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
COMPARISON = "paired difference (ours)"
AVERAGE = "average"
COST = "cost"
#: The cost columns (Tables 1, 5, 7): model sizes from results/tables/cost.csv, not image
#: metrics (those are demoe.eval.registry's); they come after the image metrics.
COST_METRICS: tuple[str, ...] = ("params_m", "macs_g", "runtime_ms")
#: The interval columns: the interval (``ci_low``, ``ci_high``; 95 % by default), the number
#: of seeds and the SD over the per-seed values (``seed_sd``; of a paired difference, over
#: the per-seed differences, where both rows have as many seeds). NaN where they do not
#: apply: the paper's numbers, parameters and MACs (exact), a runtime without repeats in
#: cost.csv, one seed's SD.
INTERVAL_COLUMNS: tuple[str, ...] = ("ci_low", "ci_high", "seeds", "seed_sd")
LONG_COLUMNS: list[str] = [
    "method",
    "origin",
    "dataset",
    "metric",
    "value",
    "note",
    *INTERVAL_COLUMNS,
]
NO_INTERVAL: tuple[float, ...] = (math.nan,) * len(INTERVAL_COLUMNS)
#: cost.csv's runtime interval (timing repeats), used where the file has it.
RUNTIME_CI_COLUMNS: tuple[str, str] = ("runtime_ci_low", "runtime_ci_high")
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
#: Pairs of paper rows (A, B) that the paper compares and that we both reproduce: the table
#: gains the row "A − B" (origin :data:`COMPARISON`), paired over images and seeds.
COMPARISONS: dict[str, tuple[tuple[str, str], ...]] = {
    # Sec. 4.2: manual expert selection against the router on AIO-Blur-OOD.
    "table2_ood": ((paper_row_label("DeMoE k=1", "†"), "DeMoE k=1"),),
    # Sec. 4.3, "Upper-bound of DeMoE": the all-in-one model against the task-specific DeMoE*.
    "table3_task_specific": (("DeMoE k=1", paper_row_label("DeMoE k=1", "*")),),
    # App. F: the classification loss "notably increases the performance" of the baseline.
    "table5_ablations": (("Baseline w/ classification loss", "Baseline w/o classification loss"),),
    # App. F, Table 6: TLC improves some datasets and degrades others.
    "table6_tlc": tuple(
        (paper_row_label("DeMoE k=1", tlc), paper_row_label("DeMoE k=1", "no TLC"))
        for tlc in ("TLC on all layers", "partial TLC")
    ),
    # App. G, Tables 8 and 9: the manually chosen expert against the router.
    "table8_ood_extended": (("DeMoE k=realblur", "DeMoE k=1"),),
    "table9_real_lolblur": (("DeMoE k=lolblur", "DeMoE k=1"),),
}


def comparison_label(a: str, b: str) -> str:
    """The method label of the paired difference of rows ``a`` and ``b``."""
    return f"{a} − {b}"


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


def per_image_files(
    spec: TableSpec,
    results: str | Path,
    replicates: Mapping[str, int] | None = None,
    specs: Mapping[str, TableSpec] | None = None,
    datasets: Iterable[str] | None = None,
) -> list[str]:
    """Every per-image CSV the table reads: each evaluation shown, for every seed replicate
    of its experiment (the Snakemake inputs beside the summaries)."""
    return [
        str(path)
        for ev in table_evaluations_shown(spec, specs, datasets)
        for path in per_image_paths(ev, results, replicates)
    ]


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


def long_frame(records: Sequence[tuple]) -> pd.DataFrame:
    """Long rows (tuples in :data:`LONG_COLUMNS` order) as a frame, numbers as floats."""
    frame = pd.DataFrame(list(records), columns=LONG_COLUMNS)
    numbers = ["value", *INTERVAL_COLUMNS]
    frame[numbers] = frame[numbers].astype(float)
    return frame


#: Our cells by (row label, dataset or "average", metric): the observations behind each.
Cells = dict[tuple[str, str, str], Quantity]


def observed(
    rows: Sequence[ShownRow], results: str | Path, replicates: Mapping[str, int] | None = None
) -> dict[Evaluation, PerImage]:
    """The per-image results of every evaluation of ``rows`` (all seeds); DataError if two
    evaluations of one dataset cover different images."""
    evaluations = dict.fromkeys(e for r in rows for e in r.evaluations)
    loaded = {
        ev: load_per_image(per_image_paths(ev, results, replicates), ev.dataset)
        for ev in evaluations
    }
    check_paired(loaded.values())
    return loaded


def reproduced_rows(
    spec: TableSpec,
    results: str | Path,
    rows: Sequence[ShownRow],
    paper_metrics: Mapping[str, set[str]] | None = None,
    replicates: Mapping[str, int] | None = None,
    settings: IntervalSettings | None = None,
) -> tuple[pd.DataFrame, set[str], Cells]:
    """Long rows of our evaluations with their intervals, the datasets evaluated with ECC
    alignment, and the observations behind each cell (averages included).

    The summaries say which metrics were computed, why one is n/a and whether a dataset was
    aligned; the numbers come from the per-image CSVs of every seed. ``paper_metrics``: per
    dataset, the metrics the paper's table reports. One that a summary lacks (not computed,
    e.g. MUSIQ/NRQM not configured) is n/a with that reason.
    """
    settings = settings or IntervalSettings()
    paper_metrics = paper_metrics or {}
    data = observed(rows, results, replicates)
    records, aligned, cells = [], set(), {}
    for row in rows:
        for ev in row.evaluations:
            summary = load_summary(ev.path(results))
            if summary.get("aligned"):
                aligned.add(ev.dataset)
            means, reasons = summary["means"], summary.get("unavailable", {})
            for metric in table_metrics(spec):
                where = (row.label, REPRODUCED, ev.dataset, metric)
                if metric in means:
                    cell = cells[(row.label, ev.dataset, metric)] = Quantity.cell(data[ev], metric)
                    stats = cell.stats(settings)
                    note = "" if math.isfinite(stats.value) else reasons.get(metric, "")
                    records.append((*where, stats.value, note, *stats[1:]))
                elif metric in paper_metrics.get(ev.dataset, ()):
                    note = f"not in the evaluation summary ({metric} not computed; config eval)"
                    records.append((*where, math.nan, note, *NO_INTERVAL))
    long = long_frame(records)
    if spec.average and not long.empty:
        long = pd.concat([long, _averages(long, spec, cells, settings)], ignore_index=True)
    return long, aligned, cells


def _averages(
    long: pd.DataFrame, spec: TableSpec, cells: Cells, settings: IntervalSettings
) -> pd.DataFrame:
    """Our rows' mean over the table's datasets (Table 1's "Average"), where every dataset
    has a value, else n/a with the reason (never a partial mean); adds them to ``cells``."""
    records = []
    per_set = long[long["dataset"].isin(spec.datasets)]
    for (method, metric), group in per_set.groupby(["method", "metric"], sort=False):
        values = group.set_index("dataset")["value"].reindex(list(spec.datasets))
        if values.notna().all():
            average = Quantity.average([cells[(method, d, metric)] for d in spec.datasets])
            cells[(method, AVERAGE, metric)] = average
            stats = average.stats(settings)
            records.append((method, REPRODUCED, AVERAGE, metric, stats.value, "", *stats[1:]))
        else:
            missing = ", ".join(DATASETS[d].display for d in values[values.isna()].index)
            note = f"no {metric.upper()} average: n/a or not evaluated on {missing}"
            records.append((method, REPRODUCED, AVERAGE, metric, math.nan, note, *NO_INTERVAL))
    return long_frame(records)


def with_average(long: pd.DataFrame, spec: TableSpec) -> pd.DataFrame:
    """Add the paper's rows' mean over the table's datasets (Table 1 style) where the paper
    gives every dataset but no average; its own averages are kept as they are (ours come
    from :func:`reproduced_rows`, with their intervals)."""
    if not spec.average or long.empty:
        return long
    theirs = long[long["origin"] != REPRODUCED]
    per_set = theirs[theirs["dataset"].isin(spec.datasets)]
    has_avg = set(
        map(tuple, theirs.loc[theirs["dataset"] == AVERAGE, ["method", "origin", "metric"]].values)
    )
    records = []
    for (method, origin, metric), group in per_set.groupby(
        ["method", "origin", "metric"], sort=False
    ):
        if (method, origin, metric) in has_avg:
            continue
        values = group.set_index("dataset")["value"].reindex(list(spec.datasets))
        if values.notna().all():
            value = float(values.mean())
            records.append((method, origin, AVERAGE, metric, value, "", *NO_INTERVAL))
    return pd.concat([long, long_frame(records)], ignore_index=True)


def cost_rows(
    rows: Sequence[ShownRow], specs: Mapping[str, TableSpec], cost_csv: str | Path
) -> pd.DataFrame:
    """Cost (params, MACs, runtime) of each single-model row, from ``results/tables/cost.csv``.

    The model is the plan row's ``cost_model`` for that experiment, else a cost.csv model
    named like the experiment; rows with neither keep the paper's cost only. Parameters and
    MACs are exact; the runtime has the interval of its timing repeats where cost.csv gives
    one (:data:`RUNTIME_CI_COLUMNS`).
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
            interval = NO_INTERVAL
            if metric == "runtime_ms" and set(RUNTIME_CI_COLUMNS) <= set(cost.columns):
                low, high = (float(cost.loc[model, c]) for c in RUNTIME_CI_COLUMNS)
                interval = (low, high, math.nan, math.nan)
            records.append((row.label, REPRODUCED, COST, metric, value, "", *interval))
    return long_frame(records)


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
    frame = pd.DataFrame(
        {
            "method": [paper_row_label(m, s) for m, s in zip(raw["method"], setting, strict=True)],
            "origin": reported_origin(spec),
            "dataset": dataset,
            "metric": raw["metric"].str.lower(),
            "value": value.astype(float),
            "note": "source: " + raw["source"],
        }
    )
    return frame.assign(**dict.fromkeys(INTERVAL_COLUMNS, math.nan))


def differences(long: pd.DataFrame, spec: TableSpec) -> pd.DataFrame:
    """Reproduced − reported for every (method, dataset, metric) that has both: the paper's
    number is a constant, so the interval is ours shifted by it (seeds and spread ours)."""
    key = ["method", "dataset", "metric"]
    ours = long[long["origin"] == REPRODUCED]
    theirs = long.loc[long["origin"] == reported_origin(spec), [*key, "value"]]
    both = ours.merge(theirs, on=key, suffixes=("", "_rep"))
    both = both[both["value"].notna() & both["value_rep"].notna()]
    shift = {c: both[c] - both["value_rep"] for c in ("value", "ci_low", "ci_high")}
    out = both.assign(origin=DIFFERENCE, note="", **shift)
    return out[LONG_COLUMNS]


def comparisons(spec: TableSpec, cells: Cells, settings: IntervalSettings) -> pd.DataFrame:
    """The paired differences ``A − B`` of :data:`COMPARISONS` where both rows have a value
    (each dataset and the average): the same images and seeds resampled for both."""
    records = []
    for a, b in COMPARISONS.get(spec.name, ()):
        for (method, dataset, metric), quantity in cells.items():
            other = cells.get((b, dataset, metric))
            if method != a or other is None:
                continue
            stats = quantity.minus(other, settings)
            if math.isfinite(stats.value):
                label = comparison_label(a, b)
                records.append((label, COMPARISON, dataset, metric, stats.value, "", *stats[1:]))
    return long_frame(records)


def build_table(
    spec: TableSpec,
    results: str | Path,
    reported: str | Path | None = None,
    cost_csv: str | Path | None = None,
    datasets: Iterable[str] | None = None,
    specs: Mapping[str, TableSpec] | None = None,
    replicates: Mapping[str, int] | None = None,
    settings: IntervalSettings | None = None,
) -> tuple[pd.DataFrame, set[str]]:
    """The full long table of ``spec`` and the ECC-aligned datasets.

    ``specs``: every table of the plan (default :func:`table_specs`), which decides the
    evaluations available and the rows shown in other tables. ``replicates``: seed
    replicates per experiment (``train.replicates``); ``settings``: the intervals'
    (``analysis.intervals``).
    """
    specs = table_specs() if specs is None else specs
    settings = settings or IntervalSettings()
    rows = shown_rows(spec, specs, datasets)
    paper = long_frame([])
    if reported is not None and Path(reported).is_file():
        paper = read_reported(reported, spec)
    paper_metrics = paper.groupby("dataset")["metric"].agg(set).to_dict()
    long, aligned, cells = reproduced_rows(spec, results, rows, paper_metrics, replicates, settings)
    parts = [long, paper]
    if uses_cost(spec) and cost_csv is not None:
        parts.append(cost_rows(rows, specs, cost_csv))
    parts = [p for p in parts if not p.empty]
    long = pd.concat(parts, ignore_index=True) if parts else long
    long = with_average(long, spec)
    extra = [
        p for p in (differences(long, spec), comparisons(spec, cells, settings)) if not p.empty
    ]
    if extra:
        long = pd.concat([long, *extra], ignore_index=True)
    return _ordered(long, spec, [r.label for r in rows]), aligned


def _ordered(long: pd.DataFrame, spec: TableSpec, ours: Sequence[str]) -> pd.DataFrame:
    """The paper's rows in its order, then ours, a comparison ``A − B`` right after row A;
    per row: origin, column, metric order."""
    paper = long.loc[long["origin"] == reported_origin(spec), "method"]
    methods = list(dict.fromkeys([*paper, *ours]))
    for a, b in COMPARISONS.get(spec.name, ()):
        if a in methods:
            methods.insert(methods.index(a) + 1, comparison_label(a, b))
    ranks = {
        "method": methods,
        "origin": [REPRODUCED, reported_origin(spec), DIFFERENCE, COMPARISON],
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
