"""Qualitative comparison grids (paper Fig. 5: AIO-Blur; Fig. 14: AIO-Blur-OOD).

Per dataset, two rows: the blurry input, the task-specific NAFNet, DeMoE (router, top-1
expert) and the sharp ground truth, all cut with the same central crop, a box marking
the zoomed region; under them the same region enlarged, and each image's PSNR against
its ground truth. Each model restores the whole image; the crop is taken afterwards, so
borders of the crop see full context. PSNR is that of the whole image (8-bit-rounded
output, :func:`demoe.eval.metrics.psnr`, the convention of :mod:`demoe.eval.runner`;
no RealBlur alignment), "n/a" for unpaired sets. Both restorations are ours (models this
run trained) and are labelled so; the paper's panels of other methods (Restormer,
FFTFormer, task-specific SOTA) are not redrawn. Sized for the paper's column width.
"""

from __future__ import annotations

import argparse
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from torch import nn

from demoe.analysis.labels import (
    dataset_label,
    model_name,
    task_specific_model,
    with_weights_source,
)
from demoe.analysis.plots.cli import figure_parser, save
from demoe.analysis.style import COLUMN_FIGURE_WIDTH_IN, MIN_FONT_PT
from demoe.data.images import read_image, read_uint8
from demoe.data.manifest import Record, read_manifest
from demoe.errors import DataError
from demoe.eval.metrics import psnr
from demoe.eval.runner import restore
from demoe.models.checkpoint import load_model

#: Column titles (two lines each, to fit a quarter of the column width at 7 pt).
COLUMNS: tuple[str, ...] = (
    "blurry\n(input)",
    "task-specific\nNAFNet (ours)",
    "DeMoE\n(ours)",
    "sharp\n(ground truth)",
)
#: The zoomed region is this fraction of the crop's height and width.
ZOOM_FRACTION = 1 / 3
#: Under the grid: what "ours", the numbers and the boxes mean.
OURS_NOTE = (
    "ours: restored by the models this run trained, not the paper's images.\n"
    "Under each image: PSNR of the whole image vs. its ground truth (8-bit output, no alignment).\n"
    "Box: the region zoomed below, where the input differs most from the ground truth\n"
    "(without one: where the two restorations change the input most)."
)


@dataclass(frozen=True)
class QualitativeRow:
    """One dataset's crops (H × W × 3 uint8; ``sharp`` None for unpaired sets), the
    zoomed region ``box`` = (top, left, height, width) in crop pixels, and the PSNR (dB)
    of the whole ``blurry``, ``task_specific`` and ``demoe`` images (NaN without ground
    truth)."""

    dataset: str
    blurry: np.ndarray
    task_specific: np.ndarray
    demoe: np.ndarray
    sharp: np.ndarray | None
    task_specific_name: str
    box: tuple[int, int, int, int]
    psnr: Mapping[str, float]

    def images(self) -> tuple[np.ndarray | None, ...]:
        """The crops in :data:`COLUMNS` order."""
        return (self.blurry, self.task_specific, self.demoe, self.sharp)


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


def image_psnr(image: np.ndarray, sharp: np.ndarray | None) -> float:
    """PSNR (dB) of an 8-bit H × W × 3 image against its 8-bit ground truth, as the
    evaluation scores it (:func:`demoe.eval.metrics.psnr` on [0, 1]); NaN without one."""
    if sharp is None:
        return math.nan
    return float(psnr(image.astype(np.float32) / 255.0, sharp.astype(np.float32) / 255.0))


def zoom_box(error: np.ndarray, fraction: float = ZOOM_FRACTION) -> tuple[int, int, int, int]:
    """The window ``fraction`` of the height and width of the H × W map ``error`` with
    the largest summed error, as (top, left, height, width); the first such on ties."""
    h, w = error.shape
    bh, bw = max(1, round(h * fraction)), max(1, round(w * fraction))
    table = np.pad(np.cumsum(np.cumsum(error, 0, dtype=np.float64), 1), ((1, 0), (1, 0)))
    sums = table[bh:, bw:] - table[:-bh, bw:] - table[bh:, :-bw] + table[:-bh, :-bw]
    top, left = np.unravel_index(int(np.argmax(sums)), sums.shape)
    return int(top), int(left), bh, bw


def zoomed(image: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    """The ``box`` (top, left, height, width) of an H × W × C image."""
    top, left, h, w = box
    return image[top : top + h, left : left + w]


def _abs_diff(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.abs(a.astype(np.float32) - b.astype(np.float32)).mean(axis=2)


def qualitative_row(
    record: Record,
    task_specific: nn.Module,
    task_specific_name: str,
    demoe: nn.Module,
    size: int,
    device: str = "cpu",
) -> QualitativeRow:
    """The four crops of one dataset's image, the zoomed region and the PSNRs.

    The zoomed region is where the blurry crop differs most from the sharp one (mean
    absolute error over channels); without ground truth, where the two restorations
    change the input most.
    """
    blurry = read_uint8(record.blurry)
    sharp = None if record.sharp is None else read_uint8(record.sharp)
    if sharp is not None and sharp.shape != blurry.shape:
        raise DataError(
            f"size mismatch: {record.blurry} {blurry.shape[:2]} vs {record.sharp} {sharp.shape[:2]}"
        )
    inputs = read_image(record.blurry)
    restored = {
        role: restore(model, inputs, "auto", torch.device(device))[0]
        for role, model in (("task_specific", task_specific), ("demoe", demoe))
    }
    scores = {
        role: image_psnr(image, sharp) for role, image in (("blurry", blurry), *restored.items())
    }
    crops = {role: center_crop(image, size) for role, image in restored.items()}
    blurry_crop = center_crop(blurry, size)
    sharp_crop = None if sharp is None else center_crop(sharp, size)
    if sharp_crop is not None:
        error = _abs_diff(blurry_crop, sharp_crop)
    else:
        error = sum(_abs_diff(c, blurry_crop) for c in crops.values())
    return QualitativeRow(
        dataset=record.dataset,
        blurry=blurry_crop,
        task_specific=crops["task_specific"],
        demoe=crops["demoe"],
        sharp=sharp_crop,
        task_specific_name=task_specific_name,
        box=zoom_box(error),
        psnr=scores,
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


def psnr_label(value: float) -> str:
    """ "28.31 dB", or "n/a" without ground truth."""
    return "n/a" if math.isnan(value) else f"{value:.2f} dB"


def _bare(ax: Axes) -> None:
    ax.set_xticks([])
    ax.set_yticks([])
    ax.grid(False)


def _mark(ax: Axes, box: tuple[int, int, int, int]) -> None:
    """Outline ``box`` on an image axes: white over black, visible on any content."""
    top, left, h, w = box
    for color, width in (("black", 2.0), ("white", 0.9)):
        ax.add_patch(
            Rectangle((left - 0.5, top - 0.5), w, h, fill=False, edgecolor=color, linewidth=width)
        )


def qualitative_figure(rows: Sequence[QualitativeRow], title: str) -> Figure:
    """Per dataset, the crops (:data:`COLUMNS`) with the zoomed region marked and, under
    them, that region enlarged with each image's PSNR (:func:`psnr_label`); the model
    that plays the task-specific NAFNet is named under its PSNR. Column width, 7 pt."""
    ratios = []
    for row in rows:
        ratios += [row.blurry.shape[0] / row.blurry.shape[1], row.box[2] / row.box[3]]
    panel = (COLUMN_FIGURE_WIDTH_IN - 0.3) / len(COLUMNS)
    fig, axes = plt.subplots(
        2 * len(rows),
        len(COLUMNS),
        figsize=(COLUMN_FIGURE_WIDTH_IN, panel * sum(ratios) + 0.34 * len(rows) + 1.1),
        squeeze=False,
        gridspec_kw={"height_ratios": ratios},
        layout="constrained",
    )
    roles = ("blurry", "task_specific", "demoe", None)
    for r, row in enumerate(rows):
        full, zoom = axes[2 * r], axes[2 * r + 1]
        for c, image in enumerate(row.images()):
            _bare(full[c])
            _bare(zoom[c])
            if image is None:
                full[c].text(
                    0.5,
                    0.5,
                    "no ground\ntruth",
                    ha="center",
                    va="center",
                    transform=full[c].transAxes,
                    fontsize=MIN_FONT_PT,
                    color="0.4",
                )
                zoom[c].set_axis_off()
                continue
            full[c].imshow(image)
            _mark(full[c], row.box)
            zoom[c].imshow(zoomed(image, row.box), interpolation="nearest")
            role = roles[c]
            if role is not None:
                label = psnr_label(row.psnr[role])
                if role == "task_specific":
                    label += f"\n{row.task_specific_name}"
                zoom[c].set_xlabel(label, fontsize=MIN_FONT_PT, labelpad=1.5, va="top")
            if r == 0:
                full[c].set_title(COLUMNS[c], fontsize=MIN_FONT_PT, pad=3)
        full[0].set_ylabel(dataset_label(row.dataset), fontsize=MIN_FONT_PT)
        zoom[0].set_ylabel("zoom", fontsize=MIN_FONT_PT)
    fig.suptitle(title, fontsize=MIN_FONT_PT + 1)
    fig.supxlabel(OURS_NOTE, fontsize=MIN_FONT_PT, color="0.35", linespacing=1.3)
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
