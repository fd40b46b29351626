"""Qualitative comparison grids (paper Fig. 5: AIO-Blur; Fig. 14: AIO-Blur-OOD).

Rows are datasets; columns are the blurry input, the task-specific NAFNet, DeMoE (router,
top-1 expert) and the sharp ground truth, all cut with the same crop. Each model restores
the whole image; the crop is taken afterwards, so borders of the crop see full context.
Both restorations are ours (models this run trained) and are labelled so; the paper's
panels of other methods (Restormer, FFTFormer, task-specific SOTA) are not redrawn.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.figure import Figure
from torch import nn

from demoe.analysis.plots.cli import figure_parser, save
from demoe.analysis.plots.labels import (
    dataset_label,
    model_name,
    task_specific_model,
    with_weights_source,
)
from demoe.data.images import read_image, read_uint8
from demoe.data.manifest import Record, read_manifest
from demoe.errors import DataError
from demoe.eval.runner import restore
from demoe.io.checkpoint import load_model

COLUMNS: tuple[str, ...] = (
    "blurry (input)",
    "task-specific NAFNet (ours)",
    "DeMoE (ours)",
    "sharp (ground truth)",
)
#: Under the grid: what "ours" means (the paper's own panels are images, not numbers).
OURS_NOTE = "ours: restored by the models this run trained, not the paper's images"


@dataclass(frozen=True)
class QualitativeRow:
    """One dataset's crops (H × W × 3 uint8); ``sharp`` is None for unpaired sets."""

    dataset: str
    blurry: np.ndarray
    task_specific: np.ndarray
    demoe: np.ndarray
    sharp: np.ndarray | None
    task_specific_name: str


def pick_record(records: Sequence[Record], dataset: str, index: int = 0) -> Record:
    """The ``index``-th test record of ``dataset`` (wrapping around); DataError if none."""
    pool = [r for r in records if r.dataset == dataset and r.split == "test"]
    if not pool:
        raise DataError(f"no test images of dataset {dataset!r} in the manifests")
    return pool[index % len(pool)]


def center_crop(image: np.ndarray, size: int) -> np.ndarray:
    """The central ``size`` × ``size`` window of an H × W × C image (smaller if it is)."""
    h, w = image.shape[:2]
    ch, cw = min(size, h), min(size, w)
    top, left = (h - ch) // 2, (w - cw) // 2
    return image[top : top + ch, left : left + cw]


def restored_crop(model: nn.Module, record: Record, size: int, device: str = "cpu") -> np.ndarray:
    """Restore the whole blurry image (router for DeMoE) and cut the central crop."""
    restored, _ = restore(model, read_image(record.blurry), "auto", torch.device(device))
    return center_crop(restored, size)


def qualitative_row(
    record: Record,
    task_specific: nn.Module,
    task_specific_name: str,
    demoe: nn.Module,
    size: int,
    device: str = "cpu",
) -> QualitativeRow:
    """The four crops of one dataset's image."""
    sharp = None if record.sharp is None else center_crop(read_uint8(record.sharp), size)
    return QualitativeRow(
        dataset=record.dataset,
        blurry=center_crop(read_uint8(record.blurry), size),
        task_specific=restored_crop(task_specific, record, size, device),
        demoe=restored_crop(demoe, record, size, device),
        sharp=sharp,
        task_specific_name=task_specific_name,
    )


def add_qualitative_args(parser: argparse.ArgumentParser) -> None:
    """The arguments of ``analysis/fig05_qualitative.py`` and ``fig14_qualitative_ood.py``."""
    parser.add_argument("--manifest", required=True, help="test manifest (JSONL)")
    parser.add_argument("--datasets", nargs="+", required=True)
    parser.add_argument("--demoe", required=True, help="trained DeMoE model file")
    parser.add_argument("--task-specific", nargs="+", required=True, help="nafnet_<dataset> files")
    parser.add_argument("--crop", type=int, default=256, help="side of the central crop")
    parser.add_argument("--index", type=int, default=0, help="which test image of each dataset")
    parser.add_argument("--device", default="cpu")


def qualitative_rows(
    records: Sequence[Record],
    datasets: Sequence[str],
    task_specific_paths: Mapping[str, str | os.PathLike],
    demoe_path: str | os.PathLike,
    size: int,
    index: int = 0,
    device: str = "cpu",
) -> list[QualitativeRow]:
    """One row per dataset: its ``index``-th test image restored by the dataset's
    task-specific NAFNet (``task_specific_paths`` by experiment name) and by DeMoE."""
    demoe = load_model(demoe_path, device)
    rows = []
    for dataset in datasets:
        name = task_specific_model(dataset)
        if name not in task_specific_paths:
            raise DataError(f"no task-specific model {name!r} given for dataset {dataset!r}")
        nafnet = load_model(task_specific_paths[name], device)
        record = pick_record(records, dataset, index)
        rows.append(qualitative_row(record, nafnet, name, demoe, size, device))
    return rows


def qualitative_figure(rows: Sequence[QualitativeRow], title: str) -> Figure:
    """Grid of crops, rows = datasets, columns = :data:`COLUMNS`."""
    fig, axes = plt.subplots(
        len(rows),
        len(COLUMNS),
        figsize=(2.2 * len(COLUMNS), 2.2 * len(rows)),
        squeeze=False,
        layout="constrained",
    )
    for r, (row, ax_row) in enumerate(zip(rows, axes, strict=True)):
        images = (row.blurry, row.task_specific, row.demoe, row.sharp)
        for c, (ax, image) in enumerate(zip(ax_row, images, strict=True)):
            ax.set_xticks([])
            ax.set_yticks([])
            ax.grid(False)
            if image is None:
                ax.text(
                    0.5,
                    0.5,
                    "no ground truth",
                    ha="center",
                    va="center",
                    transform=ax.transAxes,
                    fontsize=8,
                    color="0.4",
                )
            else:
                ax.imshow(image)
            if r == 0:
                ax.set_title(COLUMNS[c], fontsize=9)
        ax_row[0].set_ylabel(dataset_label(row.dataset), fontsize=8)
        ax_row[1].set_xlabel(row.task_specific_name, fontsize=7)
    fig.suptitle(title)
    fig.supxlabel(OURS_NOTE, fontsize=7, color="0.35")
    return fig


def qualitative_main(doc: str, title: str, argv: Sequence[str] | None = None) -> None:
    """The command line of Figs. 5 and 14: parse, restore, draw, save."""
    parser = figure_parser(doc)
    add_qualitative_args(parser)
    args = parser.parse_args(argv)
    paths = {model_name(p): p for p in args.task_specific}
    rows = qualitative_rows(
        read_manifest(args.manifest),
        args.datasets,
        paths,
        args.demoe,
        args.crop,
        args.index,
        args.device,
    )
    save(qualitative_figure(rows, with_weights_source(title, args.demoe)), args)
