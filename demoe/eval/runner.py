"""Evaluate a model on a manifest: one row per image with metrics and router outputs.

Conventions (used for every table): the restored image is clipped to [0, 1] and
rounded to 8 bits (what a saved PNG holds) before any metric; metrics follow
:mod:`demoe.eval.registry`; with ``align=True`` the RealBlur protocol (intensity matching, ECC
homography alignment to the ground truth, masked PSNR/SSIM) is applied. For DeMoE each row
also carries the router probabilities (``prob_<task>``) and the routed task, so the router
figures (Fig. 12) and confusion matrices come from the same pass.

An image that cannot be used (truncated, unreadable, a size mismatch with its ground
truth) does not stop the run: its row has ``error`` set to the reason and no metric,
every other image is still scored, and :func:`failures` lists it for the summary; an
evaluation where every image failed is an error (:func:`check_some_evaluated`).
The "blurry input (no restoration)" reference row evaluates ``nn.Identity()`` (``demoe eval --blurry-input``): the degraded
image goes through the same 8-bit rounding and protocol as any restoration.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn
from tqdm import tqdm

from demoe.data.images import read_image, to_uint8, write_image
from demoe.data.manifest import Record
from demoe.errors import DataError
from demoe.eval.registry import DEFAULT_METRICS, WeightPath, compute_metrics
from demoe.models.tiling import infer
from demoe.tasks import TASKS


def restore(model: nn.Module, blurry: np.ndarray, task: str, device: torch.device):
    """Run ``model`` on one CHW image; returns (HWC uint8 restored, router probs or None)."""
    x = torch.from_numpy(blurry)[None].to(device)
    with torch.inference_mode():  # tiled when the image would not fit (demoe.models.tiling)
        restored, logits = infer(model, x, task)
    probs = None if logits is None else torch.softmax(logits.float(), 1)[0].cpu().numpy()
    return to_uint8(restored[0].float().clamp(0, 1).permute(1, 2, 0).cpu().numpy()), probs


def evaluate(
    model: nn.Module,
    records: Sequence[Record],
    task: str = "auto",
    metrics: Sequence[str] = DEFAULT_METRICS,
    align: bool = False,
    weights: Mapping[str, WeightPath] | None = None,
    save_dir: str | os.PathLike | None = None,
    device: str | torch.device = "cpu",
) -> tuple[pd.DataFrame, dict[str, str]]:
    """Per-image results of ``model`` on ``records`` and the reasons for n/a metrics
    (``weights``: metric weight files by config key, :func:`demoe.eval.registry.create_metric`)."""
    device = torch.device(device)
    model = model.eval().to(device)
    rows, reasons = [], {}
    for record in tqdm(records, desc="eval", unit="img", leave=False):
        base = {"dataset": record.dataset, "task": record.task, "image": record.blurry}
        try:
            blurry, sharp = _load_pair(record)
        except DataError as exc:
            rows.append({**base, "expert": task, "error": str(exc)})
            continue
        restored, probs = restore(model, blurry, task, device)
        target = None if sharp is None else to_uint8(sharp.transpose(1, 2, 0))
        result = compute_metrics(
            restored.astype(np.float32) / 255.0,
            None if target is None else target.astype(np.float32) / 255.0,
            metrics,
            align=align and target is not None,
            weights=weights,
        )
        reasons.update(result.reasons)
        row = {**base, "expert": task, "error": None, **result.values}
        if probs is not None:
            row["routed"] = TASKS[int(probs.argmax())]
            row.update({f"prob_{t}": float(p) for t, p in zip(TASKS, probs, strict=True)})
        rows.append(row)
        if save_dir is not None:
            write_image(
                Path(save_dir) / f"{len(rows) - 1:05d}_{Path(record.blurry).stem}.png", restored
            )
    return pd.DataFrame(rows), reasons


def _load_pair(record: Record) -> tuple[np.ndarray, np.ndarray | None]:
    blurry = read_image(record.blurry)
    sharp = None if record.sharp is None else read_image(record.sharp)
    if sharp is not None and sharp.shape != blurry.shape:
        raise DataError(
            f"size mismatch: {record.blurry} {blurry.shape[1:]} vs {record.sharp} {sharp.shape[1:]}"
        )
    return blurry, sharp


def failures(per_image: pd.DataFrame) -> list[dict[str, str]]:
    """The images that could not be evaluated, with the reason (for the summary)."""
    if "error" not in per_image:
        return []
    failed = per_image[per_image["error"].notna()]
    return [{"image": str(r.image), "error": str(r.error)} for r in failed.itertuples()]


def summarize(per_image: pd.DataFrame, metrics: Sequence[str]) -> dict[str, float]:
    """Mean of each metric over the evaluated images (failed rows have no metric; a
    metric that is n/a everywhere stays NaN, never 0)."""
    return {m: float(per_image[m].mean()) if m in per_image else math.nan for m in metrics}


def json_means(means: Mapping[str, float]) -> dict[str, float | None]:
    """``means`` as JSON can hold them: a NaN (n/a) mean is ``null`` (its reason is in
    the summary's ``unavailable``); every value is finite (PSNR is capped,
    :mod:`demoe.eval.metrics`), so no ``NaN``/``Infinity`` token is ever written."""
    return {m: v if math.isfinite(v) else None for m, v in means.items()}


def check_some_evaluated(per_image: pd.DataFrame) -> None:
    """DataError when no image could be evaluated (every row failed), naming the first
    image and its reason."""
    failed = failures(per_image)
    if failed and len(failed) == len(per_image):
        raise DataError(
            f"all {len(failed)} images failed; the first, {failed[0]['image']}: "
            f"{failed[0]['error']}"
        )
