"""A model's evaluation scores for its model card (:mod:`demoe.models.card`).

Each evaluation of the model (``<results>/eval/<experiment>/<dataset>/<run>.csv`` with
its summary ``.json``) gives one score per metric its summary computed: the mean over
the images and its bootstrap interval, computed as the results tables compute a cell
(:class:`demoe.analysis.table_intervals.Quantity`), here for this one model's weights.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from demoe.analysis.intervals import IntervalSettings
from demoe.analysis.table_intervals import Quantity, load_per_image
from demoe.analysis.tables import load_summary
from demoe.eval.registry import get_metric
from demoe.experiments.paper_tables import AUTO
from demoe.tasks import DATASETS


def score_name(metric: str, dataset: str, run: str) -> str:
    """ "PSNR (dB), GoPro" for the router's evaluation; the run named otherwise."""
    info = get_metric(metric)
    unit = f" ({info.unit})" if info.unit else ""
    where = DATASETS[dataset].display if dataset in DATASETS else dataset
    return f"{info.display}{unit}, {where}" + ("" if run == AUTO else f", {run}")


def evaluation_scores(
    per_image_csvs: Sequence[str | Path], settings: IntervalSettings | None = None
) -> dict[str, dict[str, Any]]:
    """The card's ``scores``: ``{name: {"value", "low", "high", "source"}}`` for every
    metric each evaluation scored (n/a metrics left out), in the order given."""
    settings = settings or IntervalSettings()
    scores: dict[str, dict[str, Any]] = {}
    for csv in map(Path, per_image_csvs):
        dataset, run = csv.parent.name, csv.stem
        summary = load_summary(csv.with_suffix(".json"))
        data = load_per_image([csv], dataset)
        for metric in summary.get("means", {}):
            stats = Quantity.cell(data, metric).stats(settings)
            if not math.isfinite(stats.value):
                continue
            decimals = get_metric(metric).decimals + 1
            scores[score_name(metric, dataset, run)] = {
                "value": round(stats.value, decimals),
                "low": round(stats.ci_low, decimals),
                "high": round(stats.ci_high, decimals),
                "source": f"{len(data.images)} test images, "
                f"{settings.confidence:.0%} bootstrap interval ({dataset}/{run}.csv)",
            }
    return scores
