"""Results tables of the paper (Tables 1, 2, 3, 5, 6, 8, 9; Fig. 6 (right)), in the paper's shape.

A table has the paper's rows in the paper's order. Those rows are the methods of
``config/reported/<table>.csv``, in the file's order, as shown by :func:`paper_file`. Each
row is shown in up to three forms:

* ``reported (Table N)``: the paper's numbers. Methods that demoe does not train (PromptIR,
  Restormer, LEDNet, ...) appear only in this form.
* ``reproduced``: our numbers, read from the ``demoe eval`` summaries of the model that
  :data:`REPRODUCES` (or a plan row's ``reported_as``) names for that paper row. A metric
  that could not be computed is NaN, shown as "n/a" with its reason, and never as 0.
* ``reproduced − reported``: the difference, wherever both exist.

Rows of the evaluation plan (:mod:`demoe.experiments.paper_tables`) that reproduce no paper row of the table
come after the paper's rows, under their own labels. Rows that reproduce a paper row of
another table are shown there instead.

The CSV keeps the long format (``method, origin, dataset, metric, value, note``). The Markdown
and LaTeX follow the paper's layout. For each dataset (and the cost), one column joins the
metrics as "PSNR / SSIM / LPIPS". Tables 3 and 8 are split into one block per dataset, as
the paper prints them. "n/a" marks an unavailable metric, "?" an illegible paper cell and "–"
a value that was not evaluated or not reported.
"""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from demoe.errors import ConfigError, DataError, run_reporting_errors
from demoe.experiments.catalogue import TRAINING_STRATEGIES
from demoe.experiments.paper_tables import (
    AUTO,
    BLURRY_INPUT,
    BLURRY_INPUT_ROW,
    MATCHING,
    STAR_PREFIX,
    TLC_ALL,
    Evaluation,
    TableSpec,
    needed_evaluations,
    resolve_expert,
    row_evaluations,
    table_specs,
)
from demoe.io.atomic import write_text
from demoe.tasks import DATASETS

REPRODUCED = "reproduced"
DIFFERENCE = "reproduced − reported"
AVERAGE = "average"
COST = "cost"
COST_METRICS: tuple[str, ...] = ("params_m", "macs_g", "runtime_ms")
#: Metric order inside a column group (the paper's: Tables 1-3, 5-9).
METRIC_ORDER: tuple[str, ...] = ("psnr", "ssim", "lpips", "musiq", "nrqm", "niqe", *COST_METRICS)
LONG_COLUMNS: list[str] = ["method", "origin", "dataset", "metric", "value", "note"]
REPORTED_COLUMNS: tuple[str, ...] = ("method", "dataset", "metric", "value", "source")
METRIC_LABELS: dict[str, str] = {
    "psnr": "PSNR↑ (dB)",
    "ssim": "SSIM↑",
    "lpips": "LPIPS↓",
    "niqe": "NIQE↓",
    "musiq": "MUSIQ↑",
    "nrqm": "NRQM↑",
    "params_m": "Params (M)",
    "macs_g": "MACs (G)",
    "runtime_ms": "Runtime (ms)",
}
#: Decimals of our numbers (the paper's); reported numbers keep the decimals they were printed with.
DECIMALS: dict[str, int] = {
    "psnr": 2,
    "ssim": 3,
    "lpips": 3,
    "niqe": 3,
    "musiq": 2,
    "nrqm": 3,
    "params_m": 2,
    "macs_g": 2,
    "runtime_ms": 1,
}
MAX_DECIMALS = 4
#: Unicode in labels and cells → LaTeX (the .tex must compile with pdflatex).
LATEX_SYMBOLS: dict[str, str] = {
    "↑": r"$\uparrow$",
    "↓": r"$\downarrow$",
    "†": r"$^\dagger$",
    "−": "$-$",
    "–": "--",
    "×": r"$\times$",
    "→": r"$\rightarrow$",
}
NOT_AVAILABLE = "n/a"
ILLEGIBLE = "?"
ABSENT = "–"
ALIGNED_MARK = "†"
#: Marks the paper appends to a method (``setting`` column of config/reported).
MARKS: tuple[str, ...] = ("*", "†")
#: config/reported file of a table whose name differs from the table's.
PAPER_FILES: dict[str, str] = {"table_fig06_training_strategy": "fig06_training_strategy.csv"}
#: Tables whose cost columns (params, MACs, runtime) come from results/tables/cost.csv.
COST_TABLES: frozenset[str] = frozenset(
    {"table1_aio_deblurring", "table5_ablations", "table7_expert_blocks"}
)
#: Tables the paper prints as one block per dataset.
SPLIT_TABLES: frozenset[str] = frozenset({"table3_task_specific", "table8_ood_extended"})
#: Metrics the paper's table has beyond the plan's (LPIPS in Tables 5, 6 and Fig. 6 (right)).
EXTRA_METRICS: dict[str, tuple[str, ...]] = {
    "table5_ablations": ("lpips",),
    "table6_tlc": ("lpips",),
    "table_fig06_training_strategy": ("lpips",),
}
#: A Source TLC scope: whatever partial scope the table's plan evaluates (Table 6).
PARTIAL_TLC = "partial"


@dataclass(frozen=True)
class Source:
    """Our model behind a paper row: an experiment in one expert mode and TLC scope.

    ``experiment`` may hold ``{dataset}`` for one model per dataset (Table 3 DeMoE*).
    """

    experiment: str
    expert: str = AUTO  # "auto", a task, or MATCHING (the dataset's own expert)
    tlc: str | None = None  # None, TLC_ALL or PARTIAL_TLC
    datasets: tuple[str, ...] | None = None  # None: every dataset of the table


def _paper_key(method: str, setting: str = "") -> str:
    """The label of a paper row: its method plus its mark or setting, as printed."""
    if not setting:
        return method
    return f"{method}{setting}" if setting in MARKS else f"{method} ({setting})"


_NAFNET = Source("baseline_aio")  # Table 5: Table 1's NAFNet is the baseline w/ class loss
_DEMOE = Source("demoe")
#: Which of our models reproduces which paper row (label as :func:`_paper_key` prints it).
#: Rows whose model the plan does not evaluate stay reported-only (e.g. NAFNet w/ TLC).
REPRODUCES: dict[str, dict[str, Source]] = {
    "table1_aio_deblurring": {"NAFNet": _NAFNET, "DeMoE k=1": _DEMOE},
    "table2_ood": {
        "NAFNet": _NAFNET,
        "DeMoE k=1": _DEMOE,
        # Sec. 4.2: the DPDD, RealBlur and LOLBlur experts for RealDOF, RSBlur, Real-LOLBlur.
        _paper_key("DeMoE k=1", "†"): Source("demoe", MATCHING),
    },
    "table3_task_specific": {
        "DeMoE k=1": _DEMOE,
        _paper_key("DeMoE k=1", "*"): Source(STAR_PREFIX + "{dataset}", MATCHING),
    },
    "table5_ablations": {
        "Addition residual to MoEBlock output": Source("ablation_residual"),
        "Attention connection to MoEBlock output": Source("ablation_attention"),
        "Larger channel embedding (32 → 64)": Source("ablation_width64"),
        "DeMoE k=1": _DEMOE,
        "Baseline w/o classification loss": Source("baseline_aio_noclass"),
        "Baseline w/ original architecture": Source("baseline_original_arch"),
        "Baseline w/ classification loss": _NAFNET,
        "More middle NAFBlocks": Source("ablation_middle12"),
        "More MoEBlocks": Source("ablation_moe_blocks"),
    },
    "table6_tlc": {
        _paper_key("NAFNet", "no TLC"): _NAFNET,
        _paper_key("NAFNet", "TLC on all layers"): Source("baseline_aio", tlc=TLC_ALL),
        _paper_key("DeMoE k=1", "TLC on all layers"): Source("demoe", tlc=TLC_ALL),
        _paper_key("DeMoE k=1", "partial TLC"): Source("demoe", tlc=PARTIAL_TLC),
        _paper_key("DeMoE k=1", "no TLC"): _DEMOE,
    },
    "table7_expert_blocks": {"DeMoE": _DEMOE},
    "table8_ood_extended": {
        _paper_key("NAFNet", "*"): _NAFNET,
        "DeMoE k=1": _DEMOE,
        "DeMoE k=realblur": Source("demoe", "global_motion", datasets=("rsblur",)),
    },
    "table9_real_lolblur": {
        _paper_key("NAFNet", "*"): _NAFNET,
        "DeMoE k=1": _DEMOE,
        "DeMoE k=lolblur": Source("demoe", "low_light"),
    },
    "table_fig06_training_strategy": {
        "End-to-end training from scratch": Source(TRAINING_STRATEGIES["scratch"]),
        "Added noise to the router weights while training to use more experts": Source(
            TRAINING_STRATEGIES["router_noise"]
        ),
        "Fine-tune the pre-trained baseline": Source(TRAINING_STRATEGIES["finetune_all"]),
        "Fine-tune only the MoE decoder (DeMoE k=1)": Source(
            TRAINING_STRATEGIES["finetune_moe_decoder"]
        ),
    },
}


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


def source_evaluations(source: Source, spec: TableSpec) -> list[Evaluation]:
    """The evaluations of ``source`` on the table's datasets (none if its TLC scope is absent)."""
    tlc = source.tlc
    if tlc == PARTIAL_TLC:
        scopes = [
            r.tlc
            for r in spec.rows
            if r.experiment == source.experiment and r.tlc not in (None, TLC_ALL)
        ]
        if not scopes:
            return []
        tlc = scopes[0]
    return [
        Evaluation(source.experiment.format(dataset=d), d, resolve_expert(source.expert, d), tlc)
        for d in (source.datasets or spec.datasets)
        if d in spec.datasets
    ]


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
    for row in spec.rows:
        evals = tuple(e for e in row_evaluations(spec, row) if e.dataset in keep)
        if not evals or set(evals) <= here:
            continue
        if row.reported_as:
            rows.append(ShownRow(row.reported_as, evals, _describe(evals), True))
        elif not set(evals) <= elsewhere:
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
            "method": [_paper_key(m, s) for m, s in zip(raw["method"], setting, strict=True)],
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
        "metric": list(METRIC_ORDER) + sorted(set(long["metric"]) - set(METRIC_ORDER)),
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


def format_value(value: float, metric: str, origin: str) -> str:
    """A cell as printed: the paper's decimals ("n/a" for NaN, sign on differences).

    Reported values keep the extra decimals they were printed with (0.9249, Table 3);
    an illegible reported cell is "?".
    """
    if math.isnan(value):
        return ILLEGIBLE if origin.startswith("reported") else NOT_AVAILABLE
    decimals = DECIMALS.get(metric, 3)
    if origin.startswith("reported"):
        while decimals < MAX_DECIMALS and abs(round(value, decimals) - value) > 1e-9:
            decimals += 1
    sign = "+" if origin == DIFFERENCE else ""
    return f"{value:{sign}.{decimals}f}"


def _group_metrics(long: pd.DataFrame, dataset: str) -> list[str]:
    present = set(long.loc[long["dataset"] == dataset, "metric"])
    return [m for m in METRIC_ORDER if m in present] + sorted(present - set(METRIC_ORDER))


def _cells(long: pd.DataFrame) -> pd.DataFrame:
    return long.assign(
        cell=[
            format_value(v, m, o)
            for v, m, o in zip(long.value, long.metric, long.origin, strict=True)
        ]
    )


def wide(long: pd.DataFrame, spec: TableSpec, aligned: set[str]) -> pd.DataFrame:
    """The paper's layout: (method, origin) rows × one column per dataset joining its metrics."""
    cells = _cells(long)
    index = list(dict.fromkeys(zip(cells["method"], cells["origin"], strict=True)))
    table = pd.DataFrame(index=pd.MultiIndex.from_tuples(index, names=["Method", "Origin"]))
    for dataset in display_columns(long, spec):
        metrics = _group_metrics(long, dataset)
        sub = cells[cells["dataset"] == dataset].pivot_table(
            index=["method", "origin"], columns="metric", values="cell", aggfunc="first"
        )
        sub = sub.reindex(index=table.index, columns=metrics).fillna(ABSENT)
        joined = sub.apply(lambda r: " / ".join(r), axis=1)
        empty = (sub == ABSENT).all(axis=1)
        header = f"{_dataset_label(dataset, aligned)} " + " / ".join(
            METRIC_LABELS.get(m, m) for m in metrics
        )
        table[header] = joined.where(~empty, ABSENT)
    return table


def blocks(long: pd.DataFrame, spec: TableSpec, aligned: set[str]) -> dict[str, pd.DataFrame]:
    """One block per dataset (Tables 3, 8): the rows with a value there, one column per metric."""
    out = {}
    cells = _cells(long)
    for dataset in display_columns(long, spec):
        here = cells[cells["dataset"] == dataset]
        index = list(dict.fromkeys(zip(here["method"], here["origin"], strict=True)))
        metrics = _group_metrics(long, dataset)
        sub = here.pivot_table(
            index=["method", "origin"], columns="metric", values="cell", aggfunc="first"
        )
        sub = sub.reindex(index=pd.MultiIndex.from_tuples(index), columns=metrics).fillna(ABSENT)
        sub.columns = [METRIC_LABELS.get(m, m) for m in metrics]
        sub.index.names = ["Method", "Origin"]
        out[_dataset_label(dataset, aligned)] = sub
    return out


def _dataset_label(dataset: str, aligned: set[str]) -> str:
    if dataset == AVERAGE:
        return "Average"
    if dataset == COST:
        return "Computational cost"
    return DATASETS[dataset].display + (ALIGNED_MARK if dataset in aligned else "")


def notes(
    long: pd.DataFrame,
    spec: TableSpec,
    aligned: set[str],
    extra: Sequence[str] = (),
    rows: Sequence[ShownRow] = (),
) -> list[str]:
    """Notes under the table: protocol, which model is ours, n/a reasons, sources."""
    lines = []
    if aligned:
        names = ", ".join(DATASETS[d].display for d in DATASETS if d in aligned)
        lines.append(
            f"{ALIGNED_MARK} after a dataset: {names}: RealBlur protocol (intensity matched, "
            "ECC homography to the ground truth, PSNR/SSIM over the valid mask)."
        )
    lines += list(extra)
    ours = [f"{r.label}: {r.ours}" for r in rows if r.paper]
    if ours:
        lines.append("Reproduced rows (paper row: our experiment): " + "; ".join(ours) + ".")
    costed = set(long.loc[(long["origin"] == REPRODUCED) & (long["dataset"] == COST), "method"])
    if set(display_columns(long, spec)) != set(column_order(long, spec)):
        lines.append("The paper gives averages only; our per-dataset values are in the .csv.")
    if uses_cost(spec):
        uncosted = [r.label for r in rows if r.paper and r.label not in costed]
        if uncosted:
            lines.append(
                "Computational cost reported only (cost.csv has no model for it): "
                + ", ".join(uncosted)
            )
    if any(e.experiment == BLURRY_INPUT for r in rows for e in r.evaluations):
        lines.append(
            f"{BLURRY_INPUT_ROW}: the degraded input itself scored against the ground truth "
            "(same protocol as the models); a reference of ours, not a row of the paper."
        )
    only = [r.label for r in rows if not r.paper]
    if only:
        lines.append("Rows after the paper's are ours only (not in the paper): " + ", ".join(only))
    reasons = long.loc[long["value"].isna() & (long["note"] != ""), ["metric", "note"]]
    for metric, note in dict.fromkeys(map(tuple, reasons.values)):
        if not note.startswith("source: "):
            lines.append(f"{NOT_AVAILABLE} ({metric.upper()}): {note}")
    reported = long["origin"].str.startswith("reported")
    if (reported & long["value"].isna()).any():
        lines.append(f"{ILLEGIBLE}: the paper's cell is illegible in its text (see the source).")
    sources = long.loc[reported & long["note"].str.startswith("source: "), "note"]
    lines += [f"Reported values, {s}" for s in dict.fromkeys(sources)]
    lines.append(f"{ABSENT}: not evaluated or not reported.")
    return lines


def _frames(long: pd.DataFrame, spec: TableSpec, aligned: set[str]) -> dict[str, pd.DataFrame]:
    if spec.name in SPLIT_TABLES:
        return blocks(long, spec, aligned)
    return {"": wide(long, spec, aligned)}


def render_markdown(
    frames: Mapping[str, pd.DataFrame], spec: TableSpec, lines: Sequence[str]
) -> str:
    parts = [f"**{_caption(spec)}**\n"]
    for title, frame in frames.items():
        if title:
            parts.append(f"*{title}*\n")
        parts.append(frame.reset_index().to_markdown(index=False, disable_numparse=True) + "\n")
    return "\n".join(parts) + "\n" + "".join(f"- {n}\n" for n in lines)


def render_latex(frames: Mapping[str, pd.DataFrame], spec: TableSpec, lines: Sequence[str]) -> str:
    tex = ""
    for i, (title, frame) in enumerate(frames.items()):
        caption = _caption(spec) + (f" ({title})" if title else "")
        label = f"tab:{spec.name}" + (f"-{i}" if title else "")
        tex += frame.to_latex(caption=caption, label=label, escape=True)
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
    rows: Sequence[ShownRow] = (),
) -> list[Path]:
    """Write ``<prefix>.csv`` (long), ``.md`` and ``.tex`` atomically; returns the paths."""
    frames, lines = _frames(long, spec, aligned), notes(long, spec, aligned, extra, rows)
    prefix = Path(prefix)
    paths = [prefix.with_suffix(s) for s in (".csv", ".md", ".tex")]
    write_text(paths[0], long.to_csv(index=False, float_format="%.6g"))
    write_text(paths[1], render_markdown(frames, spec, lines))
    write_text(paths[2], render_latex(frames, spec, lines))
    return paths


def main(name: str, argv: Sequence[str] | None = None) -> int:
    """Command line of the ``analysis/table*.py`` scripts: build and write table ``name``;
    bad input is one line on stderr and status 2 (:func:`demoe.errors.run_reporting_errors`)."""
    return run_reporting_errors(name, lambda: _write_table_command(name, argv))


def _write_table_command(name: str, argv: Sequence[str] | None) -> None:
    parser = argparse.ArgumentParser(description=f"results table {name}")
    parser.add_argument("--results", required=True, help="results folder (eval summaries)")
    parser.add_argument("--reported", help="config/reported/<table>.csv (used when it exists)")
    parser.add_argument("--cost", help="results/tables/cost.csv (Tables 1, 5, 7)")
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
    specs = table_specs(args.tlc_experts, fixed)
    spec = specs[name]
    long, aligned = build_table(spec, args.results, args.reported, args.cost, args.datasets, specs)
    rows = shown_rows(spec, specs, args.datasets)
    for path in write_table(args.out, long, spec, aligned, args.note, rows):
        print(path)
