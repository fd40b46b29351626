"""Confidence intervals for every reproduced number: a paired, stratified bootstrap.

A reproduced number is a function of raw observations: per-image metrics (the tables'
cells and averages, router accuracy), per-layer similarity scores (Figs. 2, 7, 8, 9, 11) or
timing repeats (Table 1's runtime). Its interval comes from resampling those observations:

* **Stratified.** Observations come in strata (the images of one dataset, the layers of
  one layer type, the timing repeats); each stratum is resampled with replacement within
  itself, so every resample keeps each dataset's size and an average over datasets stays
  an unweighted average of the same datasets, as in the paper's tables.
* **Paired.** Two quantities measured on the same observations (two models on the same
  test images; two kinds of model pair on the same layers) draw the *same* resample, so a
  difference's interval reflects how the difference varies over images, not how each
  mean does. A stratum's identity is its exact list of observation ids: quantities share
  a resample exactly when they were measured on the same images (or layers, or repeats).
* **Seeds.** A quantity trained several times (``train.replicates``) has one row per
  seed. The seeds are resampled too, jointly with the images (a two-way bootstrap of a
  crossed design: every seed is evaluated on the same images), so an interval covers the
  image sampling *and* the seed-to-seed spread. Seed ``k`` of two experiments are paired
  (replicate ``k`` of DeMoE is fine-tuned from replicate ``k`` of its stage-1 network).

All the resampling, the percentile interval and the random stream are
:func:`scipy.stats.bootstrap`'s: the samples it resamples are index arrays (one per
stratum, one per seed count), and the statistic gathers the observations they index, so
strata of any size and quantities of any shape share one call (docs/paper_notes.md).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy import stats

from demoe.errors import ConfigError

#: How an interval is computed (``analysis.intervals`` in the config).
DEFAULT_SETTINGS: dict[str, object] = {
    "confidence": 0.95,
    "resamples": 2000,
    "seed": 0,
    "method": "percentile",
}
METHODS: tuple[str, ...] = ("percentile", "basic")


@dataclass(frozen=True)
class IntervalSettings:
    """Confidence level, number of resamples, seed and scipy method of every interval."""

    confidence: float = 0.95
    resamples: int = 2000
    seed: int = 0
    method: str = "percentile"

    def __post_init__(self) -> None:
        if not 0 < self.confidence < 1:
            raise ConfigError(
                f"analysis.intervals.confidence must be in (0, 1), got {self.confidence}"
            )
        if self.resamples < 100:
            raise ConfigError(f"analysis.intervals.resamples must be >= 100, got {self.resamples}")
        if self.method not in METHODS:
            raise ConfigError(
                f"analysis.intervals.method must be one of {list(METHODS)}, got {self.method!r}"
            )

    @classmethod
    def from_config(cls, config: Mapping | None) -> IntervalSettings:
        """From the config's ``analysis.intervals`` block (absent keys: the defaults)."""
        block = ((config or {}).get("analysis") or {}).get("intervals") or {}
        unknown = sorted(set(block) - set(DEFAULT_SETTINGS))
        if unknown:
            raise ConfigError(
                f"analysis.intervals: unknown keys {unknown}; valid: {list(DEFAULT_SETTINGS)}"
            )
        return cls(**{**DEFAULT_SETTINGS, **block})


@dataclass(frozen=True)
class Estimate:
    """A number with its confidence interval (``low == high == value`` when exact)."""

    value: float
    low: float
    high: float

    @classmethod
    def exact(cls, value: float) -> Estimate:
        return cls(float(value), float(value), float(value))


@dataclass(frozen=True)
class Observations:
    """The raw observations behind one quantity.

    ``strata`` maps a stratum id to an array of shape ``(units, n)``: ``n`` observations
    (images, layers, repeats) of each unit. Units are the quantity's seed replicates when
    ``seeds`` is true (resampled with the observations), else fixed rows such as the model
    pairs of a similarity figure. A stratum id holds the observation ids themselves (e.g.
    ``("images", dataset, tuple(paths))``), so quantities measured on the same observations
    pair automatically.

    ``reduce`` turns the per-stratum means (a dict of arrays of shape ``(units, *batch)``,
    in ``strata`` order) into the quantity, of shape ``batch`` (or ``(k, *batch)`` for a
    vector-valued quantity).
    """

    strata: Mapping[Hashable, np.ndarray]
    reduce: Callable[[Mapping[Hashable, np.ndarray]], np.ndarray]
    seeds: bool = False
    labels: Sequence[str] = field(default=())

    @property
    def units(self) -> int:
        return next(iter(self.strata.values())).shape[0]


def mean_over_strata(means: Mapping[Hashable, np.ndarray]) -> np.ndarray:
    """Unweighted mean over strata of the mean over units (a table's "Average" of a
    model's seeds over datasets)."""
    return np.mean([m.mean(axis=0) for m in means.values()], axis=0)


def pooled_mean(
    sizes: Mapping[Hashable, int],
) -> Callable[[Mapping[Hashable, np.ndarray]], np.ndarray]:
    """Reduce to the mean over all observations pooled (strata weighted by their size)."""
    total = sum(sizes.values())

    def reduce(means: Mapping[Hashable, np.ndarray]) -> np.ndarray:
        return sum(m.mean(axis=0) * (sizes[k] / total) for k, m in means.items())

    return reduce


def _check(parts: Sequence[Observations]) -> dict[Hashable, int]:
    sizes: dict[Hashable, int] = {}
    for part in parts:
        if not part.strata:
            raise ValueError("a quantity without observations has no interval")
        for key, values in part.strata.items():
            if values.ndim != 2 or values.shape[1] == 0:
                raise ValueError(f"stratum {key!r}: expected (units, n > 0), got {values.shape}")
            if sizes.setdefault(key, values.shape[1]) != values.shape[1]:
                raise ValueError(f"stratum {key!r} has different sizes across quantities")
            if values.shape[0] != part.units:
                raise ValueError("every stratum of a quantity needs the same units")
    return sizes


def estimate(
    parts: Sequence[Observations],
    combine: Callable[[Sequence[np.ndarray]], np.ndarray] | None = None,
    settings: IntervalSettings | None = None,
) -> Estimate:
    """The value of ``combine(quantities)`` and its bootstrap interval.

    ``parts`` are the quantities' observations; ``combine`` maps their values (each of
    shape ``batch`` or ``(k, *batch)``) to the statistic (shape ``batch``); without it the
    statistic is the single part's value. Strata shared by several parts are resampled
    once (paired); seed units of the same count share one seed resample (paired by seed
    index). Non-finite resamples (e.g. a metric that is n/a on some image) are ignored.
    """
    settings = settings or IntervalSettings()
    combine = combine or (lambda values: values[0])
    sizes = _check(parts)
    strata = [k for k, n in sizes.items() if n > 1]  # a single observation stays as it is
    fixed = {k: np.zeros(1, dtype=int) for k, n in sizes.items() if n == 1}
    seed_counts = sorted({p.units for p in parts if p.seeds and p.units > 1})
    samples = [np.arange(sizes[k]) for k in strata] + [np.arange(c) for c in seed_counts]

    def statistic(*indices: np.ndarray, axis: int = -1) -> np.ndarray:
        chosen = {**fixed, **dict(zip(strata, indices[: len(strata)], strict=True))}
        seed_draws = dict(zip(seed_counts, indices[len(strata) :], strict=True))
        values = []
        for part in parts:
            means = {}
            for key, data in part.strata.items():
                picked = np.take(data, chosen[key], axis=1)  # (units, *batch, n)
                means[key] = _resample_units(np.nanmean(picked, axis=-1), part, seed_draws)
            values.append(np.asarray(part.reduce(means), dtype=float))
        return np.asarray(combine(values), dtype=float)

    value = float(statistic(*samples))
    if not np.isfinite(value):
        return Estimate(value, float("nan"), float("nan"))
    if not samples:  # nothing to resample: exact numbers (parameter counts, MACs)
        return Estimate.exact(value)
    with np.errstate(all="ignore"):
        result = stats.bootstrap(
            samples,
            statistic,
            n_resamples=settings.resamples,
            confidence_level=settings.confidence,
            method=settings.method,
            vectorized=True,
            paired=False,
            random_state=np.random.default_rng(settings.seed),
        )
    low, high = (float(v) for v in result.confidence_interval)
    if settings.method == "percentile" and np.isnan([low, high]).any():
        # scipy's percentile interval is NaN as soon as one resample is; use the finite ones
        finite = result.bootstrap_distribution[np.isfinite(result.bootstrap_distribution)]
        alpha = (1 - settings.confidence) / 2
        low, high = (float(q) for q in np.quantile(finite, [alpha, 1 - alpha]))
    return Estimate(value, low, high)


def _resample_units(
    means: np.ndarray, part: Observations, seed_draws: Mapping[int, np.ndarray]
) -> np.ndarray:
    """Rows of ``means`` (units, *batch) at the resampled seeds of ``part`` (if seeds)."""
    if not part.seeds or part.units == 1:
        return means
    draw = np.moveaxis(np.asarray(seed_draws[part.units]), -1, 0)  # (units, *batch)
    return np.take_along_axis(means, draw, axis=0)


def spread(per_seed: Sequence[float]) -> float:
    """Sample standard deviation over seeds (NaN for one seed)."""
    values = np.asarray(per_seed, dtype=float)
    return float(values.std(ddof=1)) if values.size > 1 else float("nan")
