"""The observations behind a results table's reproduced cells, and their intervals.

A reproduced cell (model, dataset, metric) is the mean over the dataset's test images of a
``demoe eval`` per-image metric (``eval/<experiment>/<dataset>/<run>.csv``), averaged over
the experiment's seed replicates (``train.replicates``, :func:`replicate_names`). Its
interval is :func:`demoe.analysis.intervals.estimate`'s bootstrap:

* **Paired.** A dataset's images are one stratum, named by the dataset and its sorted image
  ids, so two models evaluated on the same images draw the same resample: a difference
  between two of our rows varies over images as the difference does.
* **Stratified.** A table's "Average" is the unweighted mean over its datasets (Table 1);
  each dataset is resampled within itself, so every resample keeps each dataset's size.
* **Seeds.** A replicated experiment has one row of observations per seed; the seeds are
  resampled jointly with the images, and seed ``k`` of two experiments are paired.

The intervals cover the sampling of the test images (and seeds), not the choice of test
sets nor the scale of the data (a synthetic run says nothing about the real datasets).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd

from demoe.analysis.intervals import (
    Estimate,
    IntervalSettings,
    Observations,
    estimate,
    mean_over_strata,
    spread,
)
from demoe.errors import DataError
from demoe.experiments.catalogue import replicate_names
from demoe.experiments.paper_tables import Evaluation

IMAGE_COLUMN = "image"


def per_image_paths(
    evaluation: Evaluation, results: str | Path, replicates: Mapping[str, int] | None
) -> list[Path]:
    """The per-image CSV of ``evaluation`` for each seed replicate of its experiment, in
    seed order (the experiment's own first)."""
    return [
        replace(evaluation, experiment=name).path(results, ".csv")
        for name in replicate_names(evaluation.experiment, replicates)
    ]


@dataclass(frozen=True)
class PerImage:
    """One evaluation's per-image results over its seeds, rows sorted by image id."""

    dataset: str
    images: tuple[str, ...]
    frames: tuple[pd.DataFrame, ...]  # one per seed
    paths: tuple[Path, ...]

    @property
    def stratum(self) -> tuple:
        """The stratum id: evaluations of the same images share it (and their resample)."""
        return ("images", self.dataset, self.images)

    def values(self, metric: str) -> np.ndarray:
        """``metric`` per seed and image, shape (seeds, images); NaN where it is n/a (a
        metric without a column was scored on no image, as in the summary)."""
        return np.vstack(
            [
                pd.to_numeric(f[metric], errors="coerce").to_numpy(dtype=float)
                if metric in f.columns
                else np.full(len(self.images), math.nan)
                for f in self.frames
            ]
        )


def load_per_image(paths: Sequence[Path], dataset: str) -> PerImage:
    """The per-image CSVs of one evaluation's seeds; DataError naming the file when one is
    missing, has no images, or covers other images than the first seed's."""
    frames, images = [], None
    for path in paths:
        frame = _read(path)
        frame = frame.sort_values(IMAGE_COLUMN, kind="stable").reset_index(drop=True)
        ids = tuple(frame[IMAGE_COLUMN].astype(str))
        if images is None:
            images = ids
        elif ids != images:
            raise DataError(f"{path} covers other images than {paths[0]} (same evaluation)")
        frames.append(frame)
    return PerImage(dataset, images or (), tuple(frames), tuple(paths))


def _read(path: Path) -> pd.DataFrame:
    try:
        frame = pd.read_csv(path, dtype={IMAGE_COLUMN: str})
    except FileNotFoundError as err:
        raise DataError(
            f"per-image results not found: {path} (run its `evaluate_<experiment>` job)"
        ) from err
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as err:
        raise DataError(f"per-image results {path} are not a CSV: {err}") from err
    if IMAGE_COLUMN not in frame.columns or frame.empty:
        raise DataError(f"{path}: no images (expected `demoe eval`'s per-image CSV)")
    return frame


def check_paired(loaded: Iterable[PerImage]) -> None:
    """DataError if two evaluations of one dataset cover different images (they could not
    be compared image by image)."""
    first: dict[str, PerImage] = {}
    for data in loaded:
        seen = first.setdefault(data.dataset, data)
        if seen.images != data.images:
            raise DataError(
                f"{data.paths[0]} and {seen.paths[0]} cover different images of {data.dataset}"
            )


class CellStats(NamedTuple):
    """A reproduced number as the long table holds it."""

    value: float
    ci_low: float
    ci_high: float
    seeds: float  # number of seeds (NaN where the parts have different numbers)
    seed_sd: float  # SD over the per-seed values (NaN for one seed)


NOT_MEASURED = CellStats(math.nan, math.nan, math.nan, math.nan, math.nan)


@dataclass(frozen=True)
class Quantity:
    """A reproduced number: the unweighted mean over datasets (one part each) of a metric's
    mean over the dataset's images and the experiment's seeds."""

    parts: tuple[Observations, ...]

    @classmethod
    def cell(cls, data: PerImage, metric: str) -> Quantity:
        """One dataset's mean of ``metric`` (a table cell)."""
        values = {data.stratum: data.values(metric)}
        return cls((Observations(values, mean_over_strata, seeds=True),))

    @classmethod
    def average(cls, cells: Sequence[Quantity]) -> Quantity:
        """The unweighted mean of ``cells`` (a table's "Average"), each dataset resampled
        within itself."""
        return cls(tuple(p for c in cells for p in c.parts))

    def per_seed(self) -> np.ndarray | None:
        """The value of each seed, or None where the parts have different numbers of seeds."""
        rows = [_finite_mean(v) for p in self.parts for v in p.strata.values()]
        if len({r.size for r in rows}) != 1:
            return None
        return np.mean(rows, axis=0)

    def measured(self) -> bool:
        """Whether every dataset has a value (the metric is not n/a on all its images)."""
        return all(np.isfinite(v).any() for p in self.parts for v in p.strata.values())

    def stats(self, settings: IntervalSettings) -> CellStats:
        """Value, interval, number of seeds and seed spread (all NaN where n/a)."""
        if not self.measured():
            return NOT_MEASURED
        return _stats(estimate(self.parts, _mean, settings), self.per_seed())

    def minus(self, other: Quantity, settings: IntervalSettings) -> CellStats:
        """``self − other``, paired: shared images draw the same resample, seed ``k`` of
        both the same seed."""
        if not (self.measured() and other.measured()):
            return NOT_MEASURED
        n = len(self.parts)
        result = estimate(
            [*self.parts, *other.parts], lambda v: _mean(v[:n]) - _mean(v[n:]), settings
        )
        mine, theirs = self.per_seed(), other.per_seed()
        paired = mine is not None and theirs is not None and mine.size == theirs.size
        return _stats(result, mine - theirs if paired else None)


def _mean(values: Sequence[np.ndarray]) -> np.ndarray:
    return np.mean(np.stack(values), axis=0)


def _finite_mean(values: np.ndarray) -> np.ndarray:
    """Mean over the images (last axis) of the finite values, NaN where there is none."""
    finite = np.isfinite(values)
    count = finite.sum(axis=-1)
    total = np.where(finite, values, 0.0).sum(axis=-1)
    return np.divide(total, count, out=np.full(count.shape, math.nan), where=count > 0)


def _stats(result: Estimate, per_seed: np.ndarray | None) -> CellStats:
    if per_seed is None:
        return CellStats(result.value, result.low, result.high, math.nan, math.nan)
    return CellStats(result.value, result.low, result.high, float(per_seed.size), spread(per_seed))
