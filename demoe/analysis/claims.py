"""The paper's claims, checked against this run's artifacts: the claims scoreboard.

The claims are data (``config/claims.yaml``): each names a statistic of :data:`STATISTICS`
with its arguments, the paper's value of that statistic, and a comparison with a threshold.
A statistic is computed from artifacts of the DAG under the results folder, only:

* ``eval/{experiment}/{dataset}/{run}.csv``: ``demoe eval``'s per-image metrics and router
  outputs (Tables 1-3, 5, 6; Sec. 3.2, App. E), one file per seed replicate
  (``train.replicates``);
* ``figures/figNN_<name>.csv``: per-layer similarity scores (Figs. 7, 8, 9, 11) and
  per-image silhouettes of the embeddings (Figs. 4, 13);
* ``tables/cost.csv`` and ``tables/cost_runtime_repeats.csv``: parameters, MACs and the
  timing repeats (Tables 1, 5; Sec. 5);
* ``config/reported``: the paper's numbers of methods this run does not train (Table 1's
  costs, Table 3), where a comparison with them means something (never scores on
  synthetic data).

Every statistic comes with a confidence interval (:mod:`demoe.analysis.intervals`): a
paired, stratified bootstrap over the observations behind it (test images and seeds,
layers, timing repeats). The verdict reads the interval, not the value: a claim
**holds** when the whole interval lies on the claim's side of the threshold, **does not
hold** when it lies wholly on the other side, and is **inconclusive** when the interval
contains the threshold. A claim whose artifact this run did not make, or whose value is
NaN (a metric that is n/a), is **not measurable here**, with the reason.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from demoe import paths
from demoe.analysis.intervals import (
    Estimate,
    IntervalSettings,
    Observations,
    estimate,
    mean_over_strata,
    pooled_mean,
)
from demoe.analysis.table_intervals import PerImage, load_per_image
from demoe.errors import ConfigError, DataError, DemoeError
from demoe.experiments.catalogue import replicate_names
from demoe.tasks import AIO_BLUR, AIO_BLUR_OOD, DATASETS

HOLDS = "holds"
FAILS = "does not hold"
INCONCLUSIVE = "inconclusive"
NOT_MEASURABLE = "not measurable here"
VERDICTS: tuple[str, ...] = (HOLDS, FAILS, INCONCLUSIVE, NOT_MEASURABLE)
#: Comparisons a claim may use: ``this run's value <op> threshold``; the sign says on
#: which side of the threshold the claim lies (+1 above, -1 below).
COMPARISONS: dict[str, int] = {">": 1, ">=": 1, "<": -1, "<=": -1}
#: Dataset groups a statistic's ``datasets`` argument may name.
DATASET_GROUPS: dict[str, tuple[str, ...]] = {"aio_blur": AIO_BLUR, "aio_blur_ood": AIO_BLUR_OOD}
#: A statistic's ``datasets``: a dataset, a group of :data:`DATASET_GROUPS`, or a list.
Datasets = str | Sequence[str]
CLAIM_KEYS: tuple[str, ...] = ("id", "claim", "source", "statistic", "compare", "threshold")
SCOREBOARD_COLUMNS: list[str] = [
    "id",
    "claim",
    "source",
    "statistic",
    "test",
    "paper_value",
    "paper_note",
    "this_run",
    "ci_low",
    "ci_high",
    "verdict",
    "reason",
]
#: Metrics that are costs of an architecture, comparable with the paper's at any data scale.
COST_METRICS: tuple[str, ...] = ("params_m", "macs_g", "runtime_ms")


class NotMeasurable(DemoeError):
    """A statistic cannot be computed from this run's artifacts (the message says why)."""


@dataclass(frozen=True)
class Context:
    """What the statistics read: the run's results folder and how it was made."""

    results: Path
    replicates: Mapping[str, int] = field(default_factory=dict)  # train.replicates
    settings: IntervalSettings = field(default_factory=IntervalSettings)
    synthetic: bool = False  # the embedded synthetic data (scores not comparable with the paper's)
    reported: Path | None = None  # config/reported


@dataclass(frozen=True)
class Claim:
    """One claim of the paper and the statistic that tests it."""

    id: str
    claim: str  # paraphrased
    source: str  # section / table / figure
    statistic: str  # key of STATISTICS
    compare: str  # key of COMPARISONS
    threshold: float
    args: Mapping[str, Any] = field(default_factory=dict)
    paper_value: float | None = None  # the statistic on the paper's numbers, if it gives them
    paper_note: str = ""  # where the paper value comes from, or why there is none
    description: str = ""  # the statistic in words, for the scoreboard

    @property
    def test(self) -> str:
        what = self.description or self.statistic
        return f"{what} {self.compare} {self.threshold:g}"


@dataclass(frozen=True)
class Measure:
    """What a statistic measured: the observations of its parts and how their values
    combine into the statistic (so that composite statistics stay paired)."""

    parts: tuple[Observations, ...]
    combine: Callable[[Sequence[np.ndarray]], np.ndarray]

    def estimate(self, settings: IntervalSettings) -> Estimate:
        return estimate(self.parts, self.combine, settings)


@dataclass(frozen=True)
class Statistic:
    """A registered statistic: what it measures, and the artifacts it reads (for the DAG)."""

    compute: Callable[..., Measure]
    inputs: Callable[..., list[Path]]


def _leaf(observations: Observations) -> Measure:
    return Measure((observations,), lambda values: values[0])


def _compose(
    measures: Sequence[Measure], combine: Callable[[list[np.ndarray]], np.ndarray]
) -> Measure:
    """One measure from several: their parts side by side, ``combine`` of their values."""
    spans, start = [], 0
    for m in measures:
        spans.append((start, start + len(m.parts)))
        start += len(m.parts)

    def combined(values: Sequence[np.ndarray]) -> np.ndarray:
        return combine([m.combine(values[a:b]) for m, (a, b) in zip(measures, spans, strict=True)])

    return Measure(tuple(p for m in measures for p in m.parts), combined)


def _constant(value: float, name: str) -> Measure:
    """An exact number (a parameter count, a reported value): no interval of its own."""
    return _leaf(Observations({("exact", name): np.array([[float(value)]])}, mean_over_strata))


# --- artifact readers -------------------------------------------------------------------


def _need(path: Path) -> Path:
    if not path.is_file():
        raise NotMeasurable(f"{path} was not made by this run")
    return path


def _datasets(datasets: Datasets) -> tuple[str, ...]:
    if isinstance(datasets, str):
        if datasets in DATASET_GROUPS:
            return DATASET_GROUPS[datasets]
        datasets = [datasets]
    unknown = [d for d in datasets if d not in DATASETS]
    if unknown:
        raise ConfigError(f"unknown datasets {unknown}; valid: {[*DATASET_GROUPS, *DATASETS]}")
    return tuple(datasets)


def _eval_paths(ctx: Context, experiment: str, dataset: str, run: str) -> list[Path]:
    """``eval/{experiment}/{dataset}/{run}.csv`` of every seed replicate of the experiment;
    ``{dataset}``/``{task}`` in ``experiment`` and ``run`` are filled in."""
    fill = {"dataset": dataset, "task": DATASETS[dataset].task}
    name, run = experiment.format(**fill), run.format(**fill)
    return [
        Path(paths.eval_file(ctx.results, r, dataset, run, ".csv"))
        for r in replicate_names(name, ctx.replicates)
    ]


def _per_image(ctx: Context, experiment: str, dataset: str, run: str) -> PerImage:
    """One evaluation's per-image results over the experiment's seeds, sorted by image."""
    return load_per_image([_need(p) for p in _eval_paths(ctx, experiment, dataset, run)], dataset)


# --- statistics -------------------------------------------------------------------------


def eval_mean(
    ctx: Context,
    experiment: str,
    metric: str,
    datasets: Datasets = "aio_blur",
    run: str = "auto",
) -> Measure:
    """Mean over ``datasets`` of an evaluation's per-image metric (a table's "Average"),
    over the experiment's seed replicates.

    ``experiment`` and ``run`` may hold ``{dataset}`` and ``{task}`` (Table 3 DeMoE*:
    ``demoe_star_{dataset}`` with its own expert ``{task}``).
    """
    strata = {}
    for d in _datasets(datasets):
        data = _per_image(ctx, experiment, d, run)
        values = data.values(metric)
        if not np.isfinite(values).any():
            raise NotMeasurable(f"{metric} is n/a for {experiment} on {d} ({run})")
        strata[data.stratum] = values
    return _leaf(Observations(strata, mean_over_strata, seeds=True))


def _eval_mean_inputs(
    ctx: Context, experiment: str, datasets: Datasets = "aio_blur", run: str = "auto", **_: Any
) -> list[Path]:
    """The per-image evaluations :func:`eval_mean` reads (every seed, every dataset)."""
    return [p for d in _datasets(datasets) for p in _eval_paths(ctx, experiment, d, run)]


def router_accuracy(
    ctx: Context, datasets: Datasets = "aio_blur", experiment: str = "demoe"
) -> Measure:
    """Fraction of images whose top router weight is their dataset's own expert (Sec. 3.2),
    pooled over the images of ``datasets`` (and over the seeds)."""
    strata, sizes = {}, {}
    for d in _datasets(datasets):
        data = _per_image(ctx, experiment, d, "auto")
        if any("routed" not in f.columns for f in data.frames):
            raise DataError(f"{data.paths[0]}: no 'routed' column (not a DeMoE evaluation)")
        routed = np.vstack([f["routed"].to_numpy() == DATASETS[d].task for f in data.frames])
        strata[data.stratum] = routed.astype(float)
        sizes[data.stratum] = len(data.images)
    if not sum(sizes.values()):
        raise NotMeasurable("no evaluated images")
    return _leaf(Observations(strata, pooled_mean(sizes), seeds=True))


def _router_inputs(
    ctx: Context, datasets: Datasets = "aio_blur", experiment: str = "demoe"
) -> list[Path]:
    return [p for d in _datasets(datasets) for p in _eval_paths(ctx, experiment, d, "auto")]


def _nested(spec: Mapping[str, Any]) -> tuple[Statistic, Mapping[str, Any]]:
    if not isinstance(spec, Mapping) or "statistic" not in spec:
        raise ConfigError(f"a nested statistic needs 'statistic' and 'args': {spec!r}")
    return statistic(spec["statistic"]), spec.get("args", {})


def _measure(ctx: Context, spec: Mapping[str, Any]) -> Measure:
    stat, args = _nested(spec)
    return stat.compute(ctx, **args)


def _nested_inputs(ctx: Context, *specs: Mapping[str, Any]) -> list[Path]:
    out = []
    for spec in specs:
        stat, args = _nested(spec)
        out += stat.inputs(ctx, **args)
    return out


def difference(ctx: Context, a: Mapping[str, Any], b: Mapping[str, Any]) -> Measure:
    """``a − b`` of two nested statistics (e.g. DeMoE's minus NAFNet's average PSNR),
    paired where they share observations."""
    return _compose([_measure(ctx, a), _measure(ctx, b)], lambda v: v[0] - v[1])


def ratio(ctx: Context, a: Mapping[str, Any], b: Mapping[str, Any]) -> Measure:
    """``a / b`` of two nested statistics (e.g. a reported cost over ours)."""
    return _compose([_measure(ctx, a), _measure(ctx, b)], lambda v: v[0] / v[1])


def relative_drop(ctx: Context, reference: Mapping[str, Any], other: Mapping[str, Any]) -> Measure:
    """``(reference − other) / |reference|``: how much ``other`` loses, as a fraction (Sec. 5)."""
    return _compose(
        [_measure(ctx, reference), _measure(ctx, other)], lambda v: (v[0] - v[1]) / np.abs(v[0])
    )


def relative_gap(ctx: Context, of: Mapping[str, Any], target: float) -> Measure:
    """``|of / target − 1|``: how far a statistic is from a number the paper states
    ("≈ 2.5× fewer parameters")."""
    return _compose([_measure(ctx, of)], lambda v: np.abs(v[0] / float(target) - 1))


def margin_over_max(
    ctx: Context, best: Mapping[str, Any], others: Sequence[Mapping[str, Any]]
) -> Measure:
    """``best − max(others)``: > 0 when ``best`` is the best (Fig. 6 (right))."""
    measures = [_measure(ctx, best), *(_measure(ctx, o) for o in others)]
    return _compose(measures, lambda v: v[0] - np.max(np.stack(v[1:]), axis=0))


def min_margin(
    ctx: Context, reference: Mapping[str, Any], others: Sequence[Mapping[str, Any]]
) -> Measure:
    """``min(others) − reference``: ≥ t when every one of ``others`` beats ``reference`` by
    at least t (every restoration model against the blurry input)."""
    measures = [_measure(ctx, reference), *(_measure(ctx, o) for o in others)]
    return _compose(measures, lambda v: np.min(np.stack(v[1:]), axis=0) - v[0])


def min_margin_per_dataset(
    ctx: Context,
    reference: str,
    others: Sequence[str],
    metric: str = "psnr",
    datasets: Datasets = "aio_blur",
    run: str = "auto",
) -> Measure:
    """``min`` over ``others`` and ``datasets`` of ``other − reference`` on each dataset
    alone: ≥ t when every model beats ``reference`` by t on every set (no average can
    hide a set where a model does nothing)."""
    sets = _datasets(datasets)
    measures = [
        eval_mean(ctx, name, metric, [d], run) for d in sets for name in (reference, *others)
    ]
    k = 1 + len(others)

    def combine(values: list[np.ndarray]) -> np.ndarray:
        margins = [values[i * k + j] - values[i * k] for i in range(len(sets)) for j in range(1, k)]
        return np.min(np.stack(margins), axis=0)

    return _compose(measures, combine)


def _per_dataset_inputs(
    ctx: Context,
    reference: str,
    others: Sequence[str],
    datasets: Datasets = "aio_blur",
    run: str = "auto",
    **_: Any,
) -> list[Path]:
    return [
        p
        for name in (reference, *others)
        for p in _eval_mean_inputs(ctx, name, datasets=datasets, run=run)
    ]


def min_of(ctx: Context, items: Sequence[Mapping[str, Any]]) -> Measure:
    """The smallest of several statistics ("on every dataset …")."""
    return _compose([_measure(ctx, i) for i in items], lambda v: np.min(np.stack(v), axis=0))


def max_of(ctx: Context, items: Sequence[Mapping[str, Any]]) -> Measure:
    """The largest of several statistics ("… on none of the datasets")."""
    return _compose([_measure(ctx, i) for i in items], lambda v: np.max(np.stack(v), axis=0))


def _figure_layers(ctx: Context, figure: str) -> pd.DataFrame:
    path = _need(Path(paths.figure(ctx.results, figure, "csv")))
    frame = pd.read_csv(path)
    missing = {"kind", "pair", "layer_type", "layer", "score"} - set(frame.columns)
    if missing:
        raise DataError(f"{path}: missing columns {sorted(missing)} (not a per-layer score table)")
    return frame


def _select(
    frame: pd.DataFrame,
    kind: str,
    layer_type: str | None,
    pair_contains: str | None,
    pair_excludes: str | None,
) -> pd.DataFrame:
    rows = frame[frame["kind"] == kind]
    if layer_type is not None:
        rows = rows[rows["layer_type"] == layer_type]
    if pair_contains is not None:
        rows = rows[rows["pair"].str.contains(pair_contains, regex=False)]
    if pair_excludes is not None:
        rows = rows[~rows["pair"].str.contains(pair_excludes, regex=False)]
    return rows


#: How :func:`layer_type_score` reduces over pairs: the mean, or the weakest/strongest pair.
OVER_PAIRS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "mean": lambda per_pair: per_pair.mean(axis=0),
    "min": lambda per_pair: per_pair.min(axis=0),
    "max": lambda per_pair: per_pair.max(axis=0),
    "each": lambda per_pair: per_pair,
}


def _layer_observations(rows: pd.DataFrame, over: str, what: str) -> Observations:
    """Pairs × layers of each layer type (a stratum per type: its layers are resampled)."""
    strata, pairs = {}, sorted(set(rows["pair"]))
    for layer_type, group in rows.groupby("layer_type", sort=True):
        table = group.pivot_table(index="pair", columns="layer", values="score", aggfunc="mean")
        table = table.reindex(index=pairs).sort_index(axis=1)
        if table.isna().all(axis=1).any():
            raise NotMeasurable(f"{what}: a pair has no {layer_type} layers")
        strata[("layers", layer_type, tuple(table.columns))] = table.to_numpy(dtype=float)

    def reduce(means: Mapping[Any, np.ndarray]) -> np.ndarray:
        per_pair = np.mean(np.stack(list(means.values())), axis=0)  # (pairs, *batch)
        if over == "each":  # every (type, pair) cell, for score_agreement
            return np.concatenate(list(means.values()), axis=0)
        return OVER_PAIRS[over](per_pair)

    return Observations(strata, reduce)


def layer_type_score(
    ctx: Context,
    figure: str,
    kind: str = "pairs",
    layer_type: str | None = None,
    pair_contains: str | None = None,
    pair_excludes: str | None = None,
    over: str = "mean",
) -> Measure:
    """Score of a similarity figure's model pairs of one kind (``pairs``, ``seed``,
    ``init``, ``other_task``, ``experts``): each pair's mean over the layers of
    ``layer_type`` (every type: the mean of the types' means), reduced over the pairs
    naming / not naming a model by ``over`` (``mean``, ``min``: "across all pairs",
    ``max``). The interval resamples the layers of each type."""
    if over not in OVER_PAIRS or over == "each":
        raise ConfigError(
            f"over must be one of {[o for o in OVER_PAIRS if o != 'each']}, got {over!r}"
        )
    rows = _select(_figure_layers(ctx, figure), kind, layer_type, pair_contains, pair_excludes)
    rows = rows[rows["score"].notna()]
    what = f"{figure}.csv, {kind} pairs" + (f" with {pair_contains!r}" if pair_contains else "")
    if rows.empty:
        raise NotMeasurable(f"{what}: no rows for layer type {layer_type}")
    return _leaf(_layer_observations(rows, over, what))


def _figure_inputs(ctx: Context, figure: str, **_: Any) -> list[Path]:
    return [Path(paths.figure(ctx.results, figure, "csv"))]


def _pearson(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pearson r along axis 0 (vectorised over resamples)."""
    a = a - a.mean(axis=0)
    b = b - b.mean(axis=0)
    return (a * b).sum(axis=0) / np.sqrt((a * a).sum(axis=0) * (b * b).sum(axis=0))


def score_agreement(ctx: Context, figure: str, reference: str, kind: str = "pairs") -> Measure:
    """Pearson correlation of the (pair, layer type) means of two figures (Fig. 9 vs 7)."""
    a = _select(_figure_layers(ctx, figure), kind, None, None, None)
    b = _select(_figure_layers(ctx, reference), kind, None, None, None)
    cells = (
        a[["pair", "layer_type"]]
        .drop_duplicates()
        .merge(b[["pair", "layer_type"]].drop_duplicates())
    )
    if len(cells) < 3:
        raise NotMeasurable(
            f"{figure} and {reference}: fewer than 3 common (pair, layer type) cells"
        )
    keep = [r.merge(cells) for r in (a, b)]
    keep = [k[k["score"].notna()] for k in keep]
    parts = [
        _layer_observations(k, "each", f) for k, f in zip(keep, (figure, reference), strict=True)
    ]
    return Measure(tuple(parts), lambda v: _pearson(v[0], v[1]))


def _agreement_inputs(ctx: Context, figure: str, reference: str, **_: Any) -> list[Path]:
    return [Path(paths.figure(ctx.results, f, "csv")) for f in (figure, reference)]


def silhouette(ctx: Context, figure: str, model: str | None = None) -> Measure:
    """Mean silhouette of an embedding figure's images with their dataset as the label
    (Figs. 4, 13: do the features cluster by dataset?), computed in the feature space by
    the figure (its CSV's ``silhouette``); Fig. 13 draws several networks (``model``).
    The interval resamples the images of each dataset, paired across networks."""
    path = _need(Path(paths.figure(ctx.results, figure, "csv")))
    frame = pd.read_csv(path)
    if not {"silhouette", "dataset", "image"} <= set(frame.columns):
        raise DataError(
            f"{path}: no 'dataset'/'image'/'silhouette' columns (not an embedding table)"
        )
    if model is not None:
        if "model" not in frame.columns:
            raise DataError(f"{path}: no 'model' column to select {model!r}")
        frame = frame[frame["model"] == model]
    if frame.empty:
        raise NotMeasurable(f"{path}: no images" + (f" of {model!r}" if model else ""))
    strata, sizes = {}, {}
    for dataset, group in frame.sort_values("image").groupby("dataset", sort=True):
        key = ("embedding", figure, dataset, tuple(group["image"]))
        strata[key] = group["silhouette"].to_numpy(dtype=float)[None, :]
        sizes[key] = len(group)
    return _leaf(Observations(strata, pooled_mean(sizes)))


def _cost(ctx: Context) -> pd.DataFrame:
    return pd.read_csv(_need(Path(paths.table(ctx.results, "cost")))).set_index("model")


def cost(ctx: Context, model: str, metric: str = "runtime_ms") -> Measure:
    """A model's cost in ``tables/cost.csv`` (Tables 1, 5, 7): parameters and MACs exact,
    the runtime with its timing repeats (``tables/cost_runtime_repeats.csv``, repeat ``r``
    of every model timed in the same round, so two models' repeats pair)."""
    table = _cost(ctx)
    if model not in table.index:
        raise NotMeasurable(f"tables/cost.csv has no model {model!r}")
    if metric not in table.columns:
        raise ConfigError(f"cost metric {metric!r} not in tables/cost.csv: {list(table.columns)}")
    if metric != "runtime_ms":
        return _constant(float(table.loc[model, metric]), f"{model}:{metric}")
    repeats = pd.read_csv(_need(Path(paths.cost_repeats(ctx.results))))
    mine = repeats[repeats["model"] == model].sort_values("repeat")
    if mine.empty:
        raise NotMeasurable(f"no timing repeats of {model!r}")
    key = ("repeats", tuple(mine["repeat"]))
    return _leaf(
        Observations({key: mine["runtime_ms"].to_numpy(dtype=float)[None, :]}, mean_over_strata)
    )


def _cost_inputs(ctx: Context, metric: str = "runtime_ms", **_: Any) -> list[Path]:
    extra = [Path(paths.cost_repeats(ctx.results))] if metric == "runtime_ms" else []
    return [Path(paths.table(ctx.results, "cost")), *extra]


def cost_ratio(ctx: Context, model: str, reference: str, metric: str = "runtime_ms") -> Measure:
    """``model``'s cost over ``reference``'s (Sec. 5, Table 1), paired over timing repeats."""
    return _compose([cost(ctx, model, metric), cost(ctx, reference, metric)], lambda v: v[0] / v[1])


def reported(
    ctx: Context,
    table: str,
    method: str,
    metric: str,
    datasets: Datasets | None = None,
    setting: str = "",
) -> Measure:
    """The paper's number for a method this run may not train (``config/reported/<table>.csv``):
    a cost (no dataset), or the mean of a metric over ``datasets``. Scores are comparable
    with ours only on the real datasets: on synthetic data this is not measurable."""
    if metric not in COST_METRICS and ctx.synthetic:
        raise NotMeasurable(
            "this run's data are synthetic: its scores are not comparable with the paper's"
        )
    if ctx.reported is None:
        raise NotMeasurable("no folder of reported numbers given (config/reported)")
    path = _need(ctx.reported / f"{table}.csv")
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    rows = frame[(frame["method"] == method) & (frame["metric"] == metric)]
    if "setting" in frame.columns:
        rows = rows[rows["setting"] == setting]
    wanted = [""] if datasets is None else list(_datasets(datasets))
    values = [rows.loc[rows["dataset"] == d, "value"] for d in wanted]
    if any(v.empty or v.iloc[0] == "" for v in values):
        raise ConfigError(f"{path}: no {metric} of {method!r} for {wanted}")
    return _constant(
        float(np.mean([float(v.iloc[0]) for v in values])), f"{table}:{method}:{metric}:{wanted}"
    )


def _reported_inputs(ctx: Context, **_: Any) -> list[Path]:
    return []  # config files, not artifacts of the run


def cost_rank(ctx: Context, model: str, metric: str, table: str) -> Measure:
    """``model``'s rank by ``metric`` (1 = cheapest) among the methods of a reported table,
    its own cost measured here and the others' as reported (architecture costs compare
    across data scales; runtimes only on the same hardware)."""
    if ctx.reported is None:
        raise NotMeasurable("no folder of reported numbers given (config/reported)")
    mine = float(_cost(ctx).loc[model, metric]) if model in _cost(ctx).index else math.nan
    if math.isnan(mine):
        raise NotMeasurable(f"tables/cost.csv has no model {model!r}")
    frame = pd.read_csv(_need(ctx.reported / f"{table}.csv"), dtype=str, keep_default_na=False)
    rows = frame[(frame["metric"] == metric) & (frame["dataset"] == "")]
    others = rows[~rows["method"].str.contains("DeMoE")]["value"].astype(float)
    return _constant(1 + int((others < mine).sum()), f"rank:{model}:{metric}")


#: The statistics a claim may name (``statistic:`` in config/claims.yaml).
STATISTICS: dict[str, Statistic] = {
    "eval_mean": Statistic(eval_mean, _eval_mean_inputs),
    "router_accuracy": Statistic(router_accuracy, _router_inputs),
    "layer_type_score": Statistic(layer_type_score, _figure_inputs),
    "score_agreement": Statistic(score_agreement, _agreement_inputs),
    "silhouette": Statistic(silhouette, _figure_inputs),
    "cost": Statistic(cost, _cost_inputs),
    "cost_ratio": Statistic(cost_ratio, _cost_inputs),
    "cost_rank": Statistic(cost_rank, lambda ctx, **_: [Path(paths.table(ctx.results, "cost"))]),
    "reported": Statistic(reported, _reported_inputs),
    "difference": Statistic(difference, lambda ctx, a, b: _nested_inputs(ctx, a, b)),
    "ratio": Statistic(ratio, lambda ctx, a, b: _nested_inputs(ctx, a, b)),
    "relative_drop": Statistic(
        relative_drop, lambda ctx, reference, other: _nested_inputs(ctx, reference, other)
    ),
    "relative_gap": Statistic(relative_gap, lambda ctx, of, target: _nested_inputs(ctx, of)),
    "margin_over_max": Statistic(
        margin_over_max, lambda ctx, best, others: _nested_inputs(ctx, best, *others)
    ),
    "min_margin": Statistic(
        min_margin, lambda ctx, reference, others: _nested_inputs(ctx, reference, *others)
    ),
    "min_margin_per_dataset": Statistic(min_margin_per_dataset, _per_dataset_inputs),
    "min_of": Statistic(min_of, lambda ctx, items: _nested_inputs(ctx, *items)),
    "max_of": Statistic(max_of, lambda ctx, items: _nested_inputs(ctx, *items)),
}


def statistic(name: str) -> Statistic:
    """The registered statistic ``name``; ConfigError naming it and the known ones."""
    if name not in STATISTICS:
        raise ConfigError(f"unknown statistic {name!r}; known: {', '.join(STATISTICS)}")
    return STATISTICS[name]


# --- claims file and scoreboard ---------------------------------------------------------


def _claim(entry: Any, where: str) -> Claim:
    if not isinstance(entry, Mapping):
        raise ConfigError(f"{where}: a claim must be a mapping, got {entry!r}")
    missing = [k for k in CLAIM_KEYS if k not in entry]
    if missing:
        raise ConfigError(f"{where}: claim {entry.get('id', '?')!r} lacks {missing}")
    name = f"{where}: claim {entry['id']!r}"
    try:
        statistic(entry["statistic"])
    except ConfigError as err:
        raise ConfigError(f"{name}: {err}") from None
    if entry["compare"] not in COMPARISONS:
        raise ConfigError(f"{name}: compare must be one of {list(COMPARISONS)}")
    unknown = set(entry) - {*CLAIM_KEYS, "args", "paper_value", "paper_note", "description"}
    if unknown:
        raise ConfigError(f"{name}: unknown keys {sorted(unknown)}")
    args = entry.get("args") or {}
    try:
        inspect.signature(statistic(entry["statistic"]).compute).bind(None, **args)
    except TypeError as err:
        raise ConfigError(f"{name}: bad args for {entry['statistic']}: {err}") from None
    paper = entry.get("paper_value")
    return Claim(
        id=str(entry["id"]),
        claim=str(entry["claim"]).strip(),
        source=str(entry["source"]),
        statistic=entry["statistic"],
        compare=entry["compare"],
        threshold=float(entry["threshold"]),
        args=args,
        paper_value=None if paper is None else float(paper),
        paper_note=str(entry.get("paper_note", "")).strip(),
        description=str(entry.get("description", "")).strip(),
    )


def load_claims(path: str | Path) -> list[Claim]:
    """The claims of a YAML file (``claims:`` list), validated; ConfigError naming the file."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError as err:
        raise ConfigError(f"claims file not found: {path}") from err
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML: {err}") from err
    entries = data.get("claims") if isinstance(data, Mapping) else None
    if not isinstance(entries, list) or not entries:
        raise ConfigError(f"{path}: expected a non-empty 'claims:' list")
    claims = [_claim(e, str(path)) for e in entries]
    ids = [c.id for c in claims]
    duplicated = sorted({i for i in ids if ids.count(i) > 1})
    if duplicated:
        raise ConfigError(f"{path}: duplicated claim ids {duplicated}")
    return claims


def claim_inputs(claims: Iterable[Claim], ctx: Context) -> list[str]:
    """Every artifact the claims read (deduplicated), for the DAG rule's inputs."""
    found = [p for c in claims for p in statistic(c.statistic).inputs(ctx, **c.args)]
    return [str(p) for p in dict.fromkeys(found)]


def verdict(compare: str, threshold: float, interval: Estimate) -> str:
    """Three-way verdict of ``value <compare> threshold`` read on the interval: the claim
    holds when the whole interval lies on its side of the threshold, does not hold when
    the whole interval lies on the other side, and is inconclusive when the interval
    reaches the threshold (an exact number equal to it included)."""
    side = COMPARISONS[compare]
    low, high = side * interval.low, side * interval.high
    low, high = min(low, high), max(low, high)
    if low > side * threshold:
        return HOLDS
    if high < side * threshold:
        return FAILS
    return INCONCLUSIVE


def evaluate_claim(claim: Claim, ctx: Context) -> dict[str, Any]:
    """One scoreboard row: this run's value of the claim's statistic, its interval and
    the verdict."""
    row = {
        "id": claim.id,
        "claim": claim.claim,
        "source": claim.source,
        "statistic": claim.statistic,
        "test": claim.test,
        "paper_value": math.nan if claim.paper_value is None else claim.paper_value,
        "paper_note": claim.paper_note,
    }
    nan = {"this_run": math.nan, "ci_low": math.nan, "ci_high": math.nan}
    try:
        interval = statistic(claim.statistic).compute(ctx, **claim.args).estimate(ctx.settings)
    except NotMeasurable as err:
        return {**row, **nan, "verdict": NOT_MEASURABLE, "reason": str(err)}
    except TypeError as err:  # wrong arguments for the statistic
        raise ConfigError(f"claim {claim.id!r}: bad args for {claim.statistic}: {err}") from err
    values = {"this_run": interval.value, "ci_low": interval.low, "ci_high": interval.high}
    if not all(map(math.isfinite, values.values())):
        return {**row, **values, "verdict": NOT_MEASURABLE, "reason": "value is NaN"}
    return {
        **row,
        **values,
        "verdict": verdict(claim.compare, claim.threshold, interval),
        "reason": "",
    }


def scoreboard(claims: Iterable[Claim], ctx: Context) -> pd.DataFrame:
    """The scoreboard: one row per claim (columns :data:`SCOREBOARD_COLUMNS`)."""
    return pd.DataFrame([evaluate_claim(c, ctx) for c in claims], columns=SCOREBOARD_COLUMNS)


def _number(value: float) -> str:
    return "–" if math.isnan(value) else f"{value:.4g}"


def _with_interval(value: float, low: float, high: float) -> str:
    if math.isnan(value):
        return "–"
    if low == high == value:
        return f"{value:.4g} (exact)"
    return f"{value:.4g} [{low:.4g}, {high:.4g}]"


def render_markdown(
    board: pd.DataFrame,
    settings: IntervalSettings | None = None,
    scale: str = "",
    weights: str = "",
) -> str:
    """The scoreboard as Markdown: the run's scale (``scale``, a line of
    :func:`demoe.experiments.scale.run_scale`), counts per verdict, then one row per claim,
    then the notes (``weights``: the models' SHA-256, :func:`demoe.analysis.labels.weights_note`)."""
    settings = settings or IntervalSettings()
    counts = board["verdict"].value_counts()
    head = ", ".join(f"{counts.get(v, 0)} {v}" for v in VERDICTS)
    table = pd.DataFrame(
        {
            "Claim (paraphrased)": board["claim"] + " (" + board["source"] + ")",
            "Test": board["test"],
            "Paper": [
                f"{_number(v)}" + (f" ({n})" if n else "")
                for v, n in zip(board["paper_value"], board["paper_note"], strict=True)
            ],
            f"This run [{settings.confidence:.0%} interval]": [
                _with_interval(v, lo, hi)
                for v, lo, hi in zip(
                    board["this_run"], board["ci_low"], board["ci_high"], strict=True
                )
            ],
            "Verdict": [
                v + (f": {r}" if r else "")
                for v, r in zip(board["verdict"], board["reason"], strict=True)
            ],
        }
    )
    return (
        "**Claims scoreboard: the paper's claims tested on this run's artifacts**\n\n"
        + (f"{scale}\n\n" if scale else "")
        + f"{head}.\n\n"
        + table.to_markdown(index=False, disable_numparse=True)
        + "\n\n- Paper: the statistic on the paper's reported numbers (config/reported), "
        "where the paper gives them.\n"
        f"- Intervals: {settings.confidence:.0%} {settings.method} bootstrap, "
        f"{settings.resamples} resamples (seed {settings.seed}), paired and stratified: test "
        "images within each dataset and the seed replicates (train.replicates) for scores, the "
        "layers of each type for similarities, the timing repeats for runtimes; parameter "
        "counts and MACs are exact. They cover the sampling of those observations only: "
        "not the choice of test sets, the data scale or the hardware.\n"
        "- Verdict: holds / does not hold when the whole interval lies on one side of the "
        "threshold; inconclusive when it contains the threshold.\n"
        "- Claims and thresholds: config/claims.yaml.\n" + (f"- {weights}\n" if weights else "")
    )
