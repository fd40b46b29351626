"""Results tables in the paper's layout: formatting and rendering (Markdown, LaTeX).

The long table comes from :mod:`demoe.analysis.tables`; the CSV keeps it as it is. The
Markdown and LaTeX follow the paper's layout. For each dataset (and the cost), one column
joins the metrics as "PSNR / SSIM / LPIPS". Tables 3 and 8 are split into one block per
dataset, as the paper prints them. "n/a" marks an unavailable metric, "?" an illegible
paper cell and "–" a value that was not evaluated or not reported.

Intervals are shown where a reader compares: on the ``reproduced − reported`` rows and the
paired differences of two of our rows (``+0.12 [-0.05, +0.30]``). A reproduced cell of a
model trained with several seeds shows the SD over its seeds (``16.50 ±0.08``); the
reproduced cells' intervals are in the CSV (``ci_low``, ``ci_high``), to keep the paper's
layout readable. A note under the table says what the intervals cover.

An image metric is printed with the label and decimals of its record in
:mod:`demoe.eval.registry`; the cost columns, which are no image metrics, with
:data:`COST_LABELS` and :data:`COST_DECIMALS`.
"""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from pathlib import Path

import pandas as pd

from demoe import paths
from demoe.analysis.intervals import DEFAULT_SETTINGS, IntervalSettings
from demoe.analysis.labels import weights_note, weights_source
from demoe.analysis.tables import (
    AVERAGE,
    COMPARISON,
    COST,
    DIFFERENCE,
    REPRODUCED,
    ShownRow,
    build_table,
    column_order,
    display_columns,
    metric_order,
    shown_rows,
    uses_cost,
)
from demoe.errors import ConfigError, run_reporting_errors
from demoe.eval.registry import get_metric, metric_names, registered_metrics
from demoe.experiments.catalogue import replicate_names
from demoe.experiments.paper_rows import compared_from_json
from demoe.experiments.paper_tables import BLURRY_INPUT, BLURRY_INPUT_ROW, TableSpec, table_specs
from demoe.io.atomic import write_text
from demoe.tasks import DATASETS

#: Labels and decimals of the cost columns (demoe.analysis.tables.COST_METRICS).
COST_LABELS: dict[str, str] = {
    "params_m": "Params (M)",
    "macs_g": "MACs (G)",
    "runtime_ms": "Runtime (ms)",
}
COST_DECIMALS: dict[str, int] = {"params_m": 2, "macs_g": 2, "runtime_ms": 1}
#: Decimals of a metric neither registered nor a cost column.
DEFAULT_DECIMALS = 3
MAX_DECIMALS = 4
#: Unicode in labels and cells → LaTeX (the .tex must compile with pdflatex); a metric's
#: own symbols (its registry record's ``latex``) are added to these.
LATEX_SYMBOLS: dict[str, str] = {
    "↑": r"$\uparrow$",
    "↓": r"$\downarrow$",
    "†": r"$^\dagger$",
    "−": "$-$",
    "–": "--",
    "×": r"$\times$",
    "±": r"$\pm$",
    "→": r"$\rightarrow$",
}
NOT_AVAILABLE = "n/a"
ILLEGIBLE = "?"
ABSENT = "–"
ALIGNED_MARK = "†"
#: Tables the paper prints as one block per dataset.
SPLIT_TABLES: frozenset[str] = frozenset({"table3_task_specific", "table8_ood_extended"})


def metric_label(metric: str) -> str:
    """Column label of a metric: its registry label, the cost label, or its name."""
    if metric in metric_names():
        return get_metric(metric).label
    return COST_LABELS.get(metric, metric)


def metric_decimals(metric: str) -> int:
    """Decimals of our numbers of a metric (the paper's)."""
    if metric in metric_names():
        return get_metric(metric).decimals
    return COST_DECIMALS.get(metric, DEFAULT_DECIMALS)


def latex_symbols() -> dict[str, str]:
    """Every Unicode character of labels and cells that LaTeX needs translated."""
    return {**LATEX_SYMBOLS, **{c: tex for m in registered_metrics() for c, tex in m.latex.items()}}


def format_value(value: float, metric: str, origin: str) -> str:
    """A number as printed: the paper's decimals ("n/a" for NaN, sign on differences).

    Reported values keep the extra decimals they were printed with (0.9249, Table 3);
    an illegible reported cell is "?".
    """
    if math.isnan(value):
        return ILLEGIBLE if origin.startswith("reported") else NOT_AVAILABLE
    decimals = metric_decimals(metric)
    if origin.startswith("reported"):
        while decimals < MAX_DECIMALS and abs(round(value, decimals) - value) > 1e-9:
            decimals += 1
    sign = "+" if origin in (DIFFERENCE, COMPARISON) else ""
    return f"{value:{sign}.{decimals}f}"


def format_cell(
    value: float,
    metric: str,
    origin: str,
    ci: tuple[float, float] = (math.nan, math.nan),
    seeds: float = math.nan,
    seed_sd: float = math.nan,
) -> str:
    """A cell as printed: the value, its interval on a difference row (``-7.39 [-7.80,
    -6.98]``), the SD over the seeds on a reproduced row of several seeds (``16.50 ±0.08``)."""
    text = format_value(value, metric, origin)
    if math.isnan(value):
        return text
    if origin in (DIFFERENCE, COMPARISON) and not any(map(math.isnan, ci)):
        low, high = (format_value(v, metric, origin) for v in ci)
        return f"{text} [{low}, {high}]"
    if origin == REPRODUCED and seeds > 1 and not math.isnan(seed_sd):
        return f"{text} ±{seed_sd:.{metric_decimals(metric)}f}"
    return text


def _group_metrics(long: pd.DataFrame, dataset: str) -> list[str]:
    present = set(long.loc[long["dataset"] == dataset, "metric"])
    order = metric_order()
    return [m for m in order if m in present] + sorted(present - set(order))


def _cells(long: pd.DataFrame) -> pd.DataFrame:
    return long.assign(
        cell=[
            format_cell(r.value, r.metric, r.origin, (r.ci_low, r.ci_high), r.seeds, r.seed_sd)
            for r in long.itertuples()
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
            metric_label(m) for m in metrics
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
        sub.columns = [metric_label(m) for m in metrics]
        sub.index.names = ["Method", "Origin"]
        out[_dataset_label(dataset, aligned)] = sub
    return out


def _dataset_label(dataset: str, aligned: set[str]) -> str:
    if dataset == AVERAGE:
        return "Average"
    if dataset == COST:
        return "Computational cost"
    return DATASETS[dataset].display + (ALIGNED_MARK if dataset in aligned else "")


def interval_notes(long: pd.DataFrame, settings: IntervalSettings) -> list[str]:
    """What the intervals and the ± are (only where the table shows them)."""
    lines = []
    shown = long[long["origin"].isin([DIFFERENCE, COMPARISON])]
    shown = shown[shown["ci_low"].notna() & shown["ci_high"].notna()]
    seeds = (long["seeds"] > 1).any()
    over = "test images and seeds" if seeds else "test images"
    if (shown["dataset"] != COST).any():
        lines.append(
            f"[low, high] on a difference row: {settings.confidence:.0%} bootstrap interval "
            f"over the {over} ({settings.method}, {settings.resamples} resamples), paired "
            f"(two models resampled on the same {over}) and stratified (each dataset "
            "resampled within itself); every reproduced cell's interval is in the .csv "
            f"(ci_low, ci_high). It covers the sampling of the {over}, not the choice of the "
            "test sets nor the scale of this run (synthetic data or smaller models than the "
            "paper's)."
        )
    if (shown["dataset"] == COST).any():
        lines.append("[low, high] of a runtime: from the timing repeats of the cost table.")
    ours = long[(long["origin"] == REPRODUCED) & (long["seeds"] > 1) & long["seed_sd"].notna()]
    if not ours.empty:
        counts = " or ".join(str(int(n)) for n in sorted(set(ours["seeds"])))
        trained = ", ".join(dict.fromkeys(ours["method"]))
        lines.append(
            f"± after a reproduced value: SD over {counts} seeds (the value is their mean; "
            f"models trained several times: {trained})."
        )
    return lines


def notes(
    long: pd.DataFrame,
    spec: TableSpec,
    aligned: set[str],
    extra: Sequence[str] = (),
    rows: Sequence[ShownRow] = (),
    settings: IntervalSettings | None = None,
) -> list[str]:
    """Notes under the table: protocol, which model is ours, what the intervals are, n/a
    reasons, sources."""
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
    if spec.not_in_run:
        lines.append(
            "Not in this run (no model: training off, an optional dataset absent, or a "
            "compared method not trained): " + ", ".join(spec.not_in_run) + "."
        )
    metric_notes = [get_metric(m).note for m in spec.metrics if get_metric(m).note]
    lines += list(dict.fromkeys(metric_notes))
    only = [r.label for r in rows if not r.paper]
    if only:
        lines.append("Rows after the paper's are ours only (not in the paper): " + ", ".join(only))
    if (long["origin"] == COMPARISON).any():
        lines.append(
            f"{COMPARISON}: A − B of two of our rows that the paper compares (its text or "
            "caption), on the same images; not a row of the paper."
        )
    lines += interval_notes(long, settings or IntervalSettings())
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
    parts = [f"**{caption(spec)}**\n"]
    for title, frame in frames.items():
        if title:
            parts.append(f"*{title}*\n")
        parts.append(frame.reset_index().to_markdown(index=False, disable_numparse=True) + "\n")
    return "\n".join(parts) + "\n" + markdown_notes(lines)


def markdown_notes(lines: Sequence[str]) -> str:
    """The notes under a Markdown table, one bullet each."""
    return "".join(f"- {n}\n" for n in lines)


def render_latex(frames: Mapping[str, pd.DataFrame], spec: TableSpec, lines: Sequence[str]) -> str:
    tex = ""
    for i, (title, frame) in enumerate(frames.items()):
        text = caption(spec) + (f" ({title})" if title else "")
        label = f"tab:{spec.name}" + (f"-{i}" if title else "")
        tex += frame.to_latex(caption=text, label=label, escape=True)
    tex += "".join(f"% {n}\n" for n in lines)
    return tex.translate(str.maketrans(latex_symbols()))


def caption(spec: TableSpec) -> str:
    """The table's caption: its number in the paper and its title."""
    where = spec.number if spec.number.startswith("Fig") else f"Table {spec.number}"
    return f"{where}: {spec.title}"


def write_table(
    prefix: str | Path,
    long: pd.DataFrame,
    spec: TableSpec,
    aligned: set[str],
    extra: Sequence[str] = (),
    rows: Sequence[ShownRow] = (),
    settings: IntervalSettings | None = None,
) -> list[Path]:
    """Write ``<prefix>.csv`` (long), ``.md`` and ``.tex`` atomically; returns the paths."""
    frames = _frames(long, spec, aligned)
    lines = notes(long, spec, aligned, extra, rows, settings)
    prefix = Path(prefix)
    paths = [prefix.with_suffix(s) for s in (".csv", ".md", ".tex")]
    write_text(paths[0], long.to_csv(index=False, float_format="%.6g"))
    write_text(paths[1], render_markdown(frames, spec, lines))
    write_text(paths[2], render_latex(frames, spec, lines))
    return paths


def intervals_param(config: Mapping | None) -> str:
    """The scripts' ``--intervals``: the config's ``analysis.intervals`` with the defaults
    filled in, as JSON (a rule param, so a changed setting reruns the tables)."""
    return json.dumps(asdict(IntervalSettings.from_config(config)), sort_keys=True)


def replicates_param(replicates: Mapping[str, int] | None) -> str:
    """The scripts' ``--replicates``: ``train.replicates`` (experiment → seeds) as JSON."""
    return json.dumps({k: int(v) for k, v in sorted((replicates or {}).items())})


def parse_intervals(text: str) -> IntervalSettings:
    """``--intervals`` (JSON, absent keys: the defaults); ConfigError on unknown keys."""
    block = _json_object(text, "--intervals")
    unknown = sorted(set(block) - set(DEFAULT_SETTINGS))
    if unknown:
        raise ConfigError(
            f"analysis.intervals: unknown keys {unknown}; valid: {sorted(DEFAULT_SETTINGS)}"
        )
    return IntervalSettings.from_config({"analysis": {"intervals": block}})


def parse_replicates(text: str) -> dict[str, int]:
    """``--replicates`` (JSON: experiment → number of seeds); ConfigError if malformed."""
    block = _json_object(text, "--replicates")
    bad = {k: v for k, v in block.items() if type(v) is not int or v < 1}
    if bad:
        raise ConfigError(f"train.replicates: seeds must be integers >= 1, got {bad}")
    return block


def _json_object(text: str, option: str) -> dict:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as err:
        raise ConfigError(f"{option}: not JSON ({err})") from err
    if not isinstance(value, dict):
        raise ConfigError(f"{option}: expected a JSON object, got {text!r}")
    return value


def main(name: str, argv: Sequence[str] | None = None) -> int:
    """Command line of the ``analysis/table*.py`` scripts: build and write table ``name``;
    bad input is one line on stderr and status 2 (:func:`demoe.errors.run_reporting_errors`)."""
    return run_reporting_errors(name, lambda: _write_table_command(name, argv))


def row_models(
    rows: Sequence[ShownRow], results: str | Path, replicates: Mapping[str, int] | None = None
) -> dict[str, str]:
    """The model folder of each model behind ``rows`` (seed replicates included), by a
    label naming its row (and its seed replicate)."""
    models = {}
    for row in rows:
        experiments = dict.fromkeys(e.experiment for e in row.evaluations)
        for experiment in experiments:
            if experiment == BLURRY_INPUT:
                continue
            names = replicate_names(experiment, replicates)
            for k, name in enumerate(names):
                label = row.label if len(experiments) == 1 else f"{row.label} ({experiment})"
                label += f" seed {k + 1}" if len(names) > 1 else ""
                models[label] = paths.model_dir(results, name)
    return models


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
    parser.add_argument(
        "--intervals", default="{}", help="analysis.intervals as JSON (absent keys: defaults)"
    )
    parser.add_argument(
        "--replicates", default="{}", help='train.replicates as JSON: {"<experiment>": seeds}'
    )
    parser.add_argument(
        "--compared", help="the compared methods and user models this run trains (JSON)"
    )
    parser.add_argument(
        "--untrained", default="[]", help="experiments this run has no model of (JSON list)"
    )
    parser.add_argument("--out", required=True, help="output prefix (.csv, .md, .tex)")
    args = parser.parse_args(argv)
    fixed = {
        name: weights_source(paths.model_dir(args.results, name)) or file
        for name, file in (item.split("=", 1) for item in args.fixed_weights)
    }
    settings = parse_intervals(args.intervals)
    replicates = parse_replicates(args.replicates)
    compared = () if args.compared is None else compared_from_json(args.compared)
    untrained = json.loads(args.untrained)
    specs = table_specs(args.tlc_experts, fixed, compared=compared, untrained=untrained)
    spec = specs[name]
    long, aligned = build_table(
        spec, args.results, args.reported, args.cost, args.datasets, specs, replicates, settings
    )
    rows = shown_rows(spec, specs, args.datasets)
    weights = weights_note(row_models(rows, args.results, replicates))
    notes = [*args.note, *([weights] if weights else [])]
    for path in write_table(args.out, long, spec, aligned, notes, rows, settings):
        print(path)
