"""Router figures from DeMoE's per-image evaluation (paper Fig. 12).

The inputs are ``results/eval/demoe/<dataset>/auto.csv``: one row per image with the
image's ``task``, the ``routed`` task (top-1 expert) and ``prob_<task>``, the router's
softmax probability of every expert (``demoe.eval.runner``).
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure
from sklearn.metrics import confusion_matrix

from demoe.analysis.labels import dataset_label, task_label
from demoe.errors import DataError
from demoe.tasks import DATASETS, TASKS

PROB_COLUMNS: tuple[str, ...] = tuple(f"prob_{t}" for t in TASKS)
REQUIRED: tuple[str, ...] = ("dataset", "task", "routed", *PROB_COLUMNS)


def read_router_eval(paths: Sequence[str | os.PathLike]) -> pd.DataFrame:
    """Concatenate per-image eval CSVs; DataError naming a file without router columns."""
    frames = []
    for path in paths:
        frame = pd.read_csv(path)
        missing = [c for c in REQUIRED if c not in frame.columns]
        if missing:
            raise DataError(
                f"{path}: no router outputs (missing columns {missing}); "
                "expected a DeMoE evaluation with expert 'auto'"
            )
        frames.append(frame)
    if not frames:
        raise DataError("no evaluation CSV given")
    return pd.concat(frames, ignore_index=True)


def mean_router_probs(per_image: pd.DataFrame) -> pd.DataFrame:
    """Mean router probability of each expert (columns: TASKS) per dataset (rows)."""
    means = per_image.groupby("dataset", sort=False)[list(PROB_COLUMNS)].mean()
    means.columns = list(TASKS)
    order = [d for d in DATASETS if d in means.index]
    order += [d for d in means.index if d not in order]
    return means.loc[order]


def router_confusion(per_image: pd.DataFrame) -> tuple[pd.DataFrame, float]:
    """Counts of true task (rows) × routed task (columns) over TASKS, and top-1 accuracy.

    Images without a task label (unpaired / unknown) or without a route (failed to
    evaluate: see ``demoe.eval.runner``) are left out; DataError if none is left.
    """
    labelled = per_image.dropna(subset=["task", "routed"])  # no route: a failed image
    if labelled.empty:
        raise DataError("no image with a task label: cannot build the router confusion matrix")
    unknown = set(labelled["task"]) - set(TASKS) | set(labelled["routed"]) - set(TASKS)
    if unknown:
        raise DataError(f"unknown task names in the evaluation: {sorted(unknown)}")
    matrix = confusion_matrix(labelled["task"], labelled["routed"], labels=list(TASKS))
    accuracy = float((labelled["task"] == labelled["routed"]).mean())
    return pd.DataFrame(matrix, index=list(TASKS), columns=list(TASKS)), accuracy


def router_probs_figure(means: pd.DataFrame, title: str) -> Figure:
    """Heatmap of mean router probabilities, datasets × experts (Fig. 12: both its panels)."""
    rows = [dataset_label(d) for d in means.index]
    shown = pd.DataFrame(
        means.to_numpy(), index=rows, columns=[task_label(t) for t in means.columns]
    )
    fig, ax = plt.subplots(figsize=(6.0, 1.2 + 0.4 * len(rows)))
    sns.heatmap(
        shown,
        ax=ax,
        annot=True,
        fmt=".2f",
        vmin=0.0,
        vmax=1.0,
        cmap="viridis",
        cbar_kws={"label": "mean router probability"},
    )
    ax.set_xlabel("expert (task)")
    ax.set_ylabel("test set")
    ax.set_title(title)
    return fig


def confusion_figure(matrix: pd.DataFrame, accuracy: float, title: str) -> Figure:
    """Annotated confusion matrix, true task × routed task (ours, beside Fig. 12)."""
    shown = matrix.rename(index=task_label, columns=task_label)
    fig, ax = plt.subplots(figsize=(5.2, 4.4))
    sns.heatmap(shown, ax=ax, annot=True, fmt="d", cmap="Blues", cbar_kws={"label": "images"})
    ax.set_xlabel("routed task (top-1 expert)")
    ax.set_ylabel("true task")
    ax.set_title(f"{title}\ntop-1 accuracy {accuracy:.1%}")
    return fig
