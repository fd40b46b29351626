"""The paper's claims, checked against this run's artifacts: the claims scoreboard.

The claims are data (``config/claims.yaml``): each names a statistic of :data:`STATISTICS`
with its arguments, the paper's value of that statistic, and a comparison with a threshold.
A statistic is computed from artifacts of the DAG under the results folder, only:

* ``eval/{experiment}/{dataset}/{run}.json``: ``demoe eval`` summaries (Tables 1-3, 5, 6);
* ``eval/demoe/{dataset}/auto.csv``: per-image router outputs (Fig. 12, Sec. 3.2, App. E);
* ``figures/figNN_<name>.csv``: per-pair, per-layer-type similarity means (Figs. 7, 8, 9, 11);
* ``tables/cost.csv``: parameters, MACs and runtime (Table 1, Sec. 5).

A claim whose artifact this run did not make, or whose value is NaN (a metric that is n/a),
is "not measurable here", with the reason; otherwise it holds or does not.
"""

from __future__ import annotations

import inspect
import json
import math
import operator
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from demoe import paths
from demoe.errors import ConfigError, DataError, DemoeError
from demoe.tasks import AIO_BLUR, AIO_BLUR_OOD, DATASETS

HOLDS = "holds"
FAILS = "does not hold"
NOT_MEASURABLE = "not measurable here"
#: Comparisons a claim may use: ``this run's value <op> threshold``.
COMPARISONS: dict[str, Callable[[float, float], bool]] = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
}
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
    "verdict",
    "reason",
]


class NotMeasurable(DemoeError):
    """A statistic cannot be computed from this run's artifacts (the message says why)."""


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
class Statistic:
    """A registered statistic: its value, and the artifacts it reads (for the DAG)."""

    compute: Callable[..., float]
    inputs: Callable[..., list[Path]]


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


def _summary_path(results: Path, experiment: str, dataset: str, run: str) -> Path:
    """``eval/{experiment}/{dataset}/{run}.json``; ``{dataset}``/``{task}`` are filled in."""
    fill = {"dataset": dataset, "task": DATASETS[dataset].task}
    return Path(
        paths.eval_file(results, experiment.format(**fill), dataset, run.format(**fill), ".json")
    )


# --- statistics -------------------------------------------------------------------------


def eval_mean(
    results: Path,
    experiment: str,
    metric: str,
    datasets: Datasets = "aio_blur",
    run: str = "auto",
) -> float:
    """Mean over ``datasets`` of an evaluation summary's metric (a table's "Average").

    ``experiment`` and ``run`` may hold ``{dataset}`` and ``{task}`` (Table 3 DeMoE*:
    ``demoe_star_{dataset}`` with its own expert ``{task}``).
    """
    values = []
    for path in _eval_mean_inputs(results, experiment, datasets=datasets, run=run):
        _need(path)
        try:
            means = json.loads(path.read_text(encoding="utf-8"))["means"]
        except (json.JSONDecodeError, KeyError) as err:
            raise DataError(f"{path}: not an evaluation summary ({err})") from err
        value = means.get(metric)
        if value is None or math.isnan(float(value)):
            raise NotMeasurable(f"{metric} is n/a in {path}")
        values.append(float(value))
    return float(np.mean(values))


def _eval_mean_inputs(
    results: Path, experiment: str, datasets: Datasets = "aio_blur", run: str = "auto", **_: Any
) -> list[Path]:
    """The summaries :func:`eval_mean` reads, one per dataset."""
    return [_summary_path(results, experiment, d, run) for d in _datasets(datasets)]


def _nested(spec: Mapping[str, Any]) -> tuple[Statistic, Mapping[str, Any]]:
    if not isinstance(spec, Mapping) or "statistic" not in spec:
        raise ConfigError(f"a nested statistic needs 'statistic' and 'args': {spec!r}")
    return statistic(spec["statistic"]), spec.get("args", {})


def _value(results: Path, spec: Mapping[str, Any]) -> float:
    stat, args = _nested(spec)
    return stat.compute(results, **args)


def _nested_inputs(results: Path, *specs: Mapping[str, Any]) -> list[Path]:
    out = []
    for spec in specs:
        stat, args = _nested(spec)
        out += stat.inputs(results, **args)
    return out


def difference(results: Path, a: Mapping[str, Any], b: Mapping[str, Any]) -> float:
    """``a − b`` of two nested statistics (e.g. DeMoE's minus NAFNet's average PSNR)."""
    return _value(results, a) - _value(results, b)


def relative_drop(results: Path, reference: Mapping[str, Any], other: Mapping[str, Any]) -> float:
    """``(reference − other) / |reference|``: how much ``other`` loses, as a fraction (Sec. 5)."""
    ref = _value(results, reference)
    return (ref - _value(results, other)) / abs(ref)


def margin_over_max(
    results: Path, best: Mapping[str, Any], others: Sequence[Mapping[str, Any]]
) -> float:
    """``best − max(others)``: ≥ 0 when ``best`` is the best (Fig. 6 (right))."""
    return _value(results, best) - max(_value(results, o) for o in others)


def min_margin(
    results: Path, reference: Mapping[str, Any], others: Sequence[Mapping[str, Any]]
) -> float:
    """``min(others) − reference``: ≥ t when every one of ``others`` beats ``reference`` by
    at least t (every restoration model against the blurry input)."""
    return min(_value(results, o) for o in others) - _value(results, reference)


def _figure_scores(results: Path, figure: str) -> pd.DataFrame:
    path = _need(Path(paths.figure(results, figure, "csv")))
    frame = pd.read_csv(path)
    missing = {"kind", "pair", "layer_type", "score"} - set(frame.columns)
    if missing:
        raise DataError(f"{path}: missing columns {sorted(missing)}")
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


def layer_type_score(
    results: Path,
    figure: str,
    kind: str = "pairs",
    layer_type: str | None = None,
    pair_contains: str | None = None,
    pair_excludes: str | None = None,
) -> float:
    """Mean score of a figure CSV's rows of one kind (``pairs``, ``seed``, ``init``,
    ``other_task``, ``experts``), layer type, and pairs naming / not naming a model."""
    rows = _select(_figure_scores(results, figure), kind, layer_type, pair_contains, pair_excludes)
    rows = rows[rows["score"].notna()]
    if rows.empty:
        raise NotMeasurable(
            f"{figure}.csv has no {kind} rows for layer type {layer_type}"
            + (f" and pairs with {pair_contains!r}" if pair_contains else "")
        )
    return float(rows["score"].mean())


def _figure_inputs(results: Path, figure: str, **_: Any) -> list[Path]:
    return [Path(paths.figure(results, figure, "csv"))]


def score_agreement(results: Path, figure: str, reference: str, kind: str = "pairs") -> float:
    """Pearson correlation of the (pair, layer type) means of two figures (Fig. 9 vs 7)."""
    key = ["pair", "layer_type"]
    a = _select(_figure_scores(results, figure), kind, None, None, None)
    b = _select(_figure_scores(results, reference), kind, None, None, None)
    both = a.merge(b, on=key, suffixes=("", "_ref")).dropna(subset=["score", "score_ref"])
    if len(both) < 3 or both["score"].std() == 0 or both["score_ref"].std() == 0:
        raise NotMeasurable(f"{figure} and {reference}: fewer than 3 varying common cells")
    return float(np.corrcoef(both["score"], both["score_ref"])[0, 1])


def _agreement_inputs(results: Path, figure: str, reference: str, **_: Any) -> list[Path]:
    return [Path(paths.figure(results, f, "csv")) for f in (figure, reference)]


def _router_csv(results: Path, experiment: str, dataset: str) -> Path:
    return Path(paths.eval_file(results, experiment, dataset, "auto", ".csv"))


def router_accuracy(
    results: Path, datasets: Datasets = "aio_blur", experiment: str = "demoe"
) -> float:
    """Fraction of images whose top router weight is their dataset's own expert (Sec. 3.2)."""
    hits = total = 0
    for d in _datasets(datasets):
        path = _need(_router_csv(results, experiment, d))
        frame = pd.read_csv(path)
        if "routed" not in frame.columns:
            raise DataError(f"{path}: no 'routed' column (not a DeMoE evaluation)")
        hits += int((frame["routed"] == DATASETS[d].task).sum())
        total += len(frame)
    if total == 0:
        raise NotMeasurable("no evaluated images")
    return hits / total


def _router_inputs(
    results: Path, datasets: Datasets = "aio_blur", experiment: str = "demoe"
) -> list[Path]:
    return [_router_csv(results, experiment, d) for d in _datasets(datasets)]


def cost_ratio(results: Path, model: str, reference: str, metric: str = "runtime_ms") -> float:
    """``model``'s cost over ``reference``'s in ``tables/cost.csv`` (Sec. 5, Table 1)."""
    path = _need(Path(paths.table(results, "cost")))
    cost = pd.read_csv(path).set_index("model")
    for name in (model, reference):
        if name not in cost.index:
            raise NotMeasurable(f"{path} has no model {name!r}")
    return float(cost.loc[model, metric]) / float(cost.loc[reference, metric])


def _cost_inputs(results: Path, **_: Any) -> list[Path]:
    return [Path(paths.table(results, "cost"))]


#: The statistics a claim may name (``statistic:`` in config/claims.yaml).
STATISTICS: dict[str, Statistic] = {
    "eval_mean": Statistic(eval_mean, _eval_mean_inputs),
    "difference": Statistic(difference, lambda r, a, b: _nested_inputs(r, a, b)),
    "relative_drop": Statistic(
        relative_drop, lambda r, reference, other: _nested_inputs(r, reference, other)
    ),
    "margin_over_max": Statistic(
        margin_over_max, lambda r, best, others: _nested_inputs(r, best, *others)
    ),
    "min_margin": Statistic(
        min_margin, lambda r, reference, others: _nested_inputs(r, reference, *others)
    ),
    "layer_type_score": Statistic(layer_type_score, _figure_inputs),
    "score_agreement": Statistic(score_agreement, _agreement_inputs),
    "router_accuracy": Statistic(router_accuracy, _router_inputs),
    "cost_ratio": Statistic(cost_ratio, _cost_inputs),
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


def claim_inputs(claims: Iterable[Claim], results: str | Path) -> list[str]:
    """Every artifact the claims read (deduplicated), for the DAG rule's inputs."""
    results = Path(results)
    paths = [p for c in claims for p in statistic(c.statistic).inputs(results, **c.args)]
    return [str(p) for p in dict.fromkeys(paths)]


def evaluate_claim(claim: Claim, results: str | Path) -> dict[str, Any]:
    """One scoreboard row: this run's value of the claim's statistic and the verdict."""
    row = {
        "id": claim.id,
        "claim": claim.claim,
        "source": claim.source,
        "statistic": claim.statistic,
        "test": claim.test,
        "paper_value": math.nan if claim.paper_value is None else claim.paper_value,
        "paper_note": claim.paper_note,
    }
    try:
        value = statistic(claim.statistic).compute(Path(results), **claim.args)
    except NotMeasurable as err:
        return {**row, "this_run": math.nan, "verdict": NOT_MEASURABLE, "reason": str(err)}
    except TypeError as err:  # wrong arguments for the statistic
        raise ConfigError(f"claim {claim.id!r}: bad args for {claim.statistic}: {err}") from err
    if math.isnan(value):
        return {**row, "this_run": value, "verdict": NOT_MEASURABLE, "reason": "value is NaN"}
    holds = COMPARISONS[claim.compare](value, claim.threshold)
    return {**row, "this_run": value, "verdict": HOLDS if holds else FAILS, "reason": ""}


def scoreboard(claims: Iterable[Claim], results: str | Path) -> pd.DataFrame:
    """The scoreboard: one row per claim (columns :data:`SCOREBOARD_COLUMNS`)."""
    return pd.DataFrame([evaluate_claim(c, results) for c in claims], columns=SCOREBOARD_COLUMNS)


def _number(value: float) -> str:
    return "–" if math.isnan(value) else f"{value:.4g}"


def render_markdown(board: pd.DataFrame) -> str:
    """The scoreboard as Markdown: counts per verdict, then one row per claim."""
    counts = board["verdict"].value_counts()
    head = ", ".join(f"{counts.get(v, 0)} {v}" for v in (HOLDS, FAILS, NOT_MEASURABLE))
    table = pd.DataFrame(
        {
            "Claim (paraphrased)": board["claim"] + " (" + board["source"] + ")",
            "Test": board["test"],
            "Paper": [
                f"{_number(v)}" + (f" ({n})" if n else "")
                for v, n in zip(board["paper_value"], board["paper_note"], strict=True)
            ],
            "This run": board["this_run"].map(_number),
            "Verdict": [
                v + (f": {r}" if r else "")
                for v, r in zip(board["verdict"], board["reason"], strict=True)
            ],
        }
    )
    return (
        "**Claims scoreboard: the paper's claims tested on this run's artifacts**\n\n"
        f"{head}.\n\n"
        + table.to_markdown(index=False, disable_numparse=True)
        + "\n\n- Paper: the statistic on the paper's reported numbers (config/reported), "
        "where the paper gives them.\n- Claims and thresholds: config/claims.yaml.\n"
    )
