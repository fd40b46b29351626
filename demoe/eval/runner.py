"""Evaluate a model on a manifest: one row per image with metrics and router outputs.

Conventions (used for every table): the restored image is clipped to [0, 1] and
rounded to 8 bits (what a saved PNG holds) before any metric; metrics follow
``demoe.eval.metrics``; with ``align=True`` the RealBlur protocol (intensity matching, ECC
homography alignment to the ground truth, masked PSNR/SSIM) is applied. For DeMoE each row also carries the router
probabilities (``prob_<task>``) and the routed task, so the router figures (Fig. 12)
and confusion matrices come from the same pass. The "blurry input (no restoration)"
reference row evaluates ``nn.Identity()`` (``demoe eval --blurry-input``): the degraded
image goes through the same 8-bit rounding and protocol as any restoration.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn
from tqdm import tqdm

from demoe.data.images import read_image, to_uint8, write_image
from demoe.data.manifest import Record
from demoe.errors import DataError
from demoe.eval.metrics import compute_metrics
from demoe.models.demoe import DeMoE
from demoe.tasks import TASKS


def restore(model: nn.Module, blurry: np.ndarray, task: str, device: torch.device):
    """Run ``model`` on one CHW image; returns (HWC uint8 restored, router probs or None)."""
    x = torch.from_numpy(blurry)[None].to(device)
    with torch.inference_mode():
        if isinstance(model, DeMoE):
            out = model(x, task=task, return_aux=True)
            restored, probs = out.output, torch.softmax(out.logits.float(), 1)[0].cpu().numpy()
        else:
            restored, probs = model(x), None
    return to_uint8(restored[0].float().clamp(0, 1).permute(1, 2, 0).cpu().numpy()), probs


def evaluate(
    model: nn.Module,
    records: Sequence[Record],
    task: str = "auto",
    metrics: Sequence[str] = ("psnr", "ssim", "lpips"),
    align: bool = False,
    metric_paths: dict[str, str | os.PathLike | None] | None = None,
    save_dir: str | os.PathLike | None = None,
    device: str | torch.device = "cpu",
) -> tuple[pd.DataFrame, dict[str, str]]:
    """Per-image results of ``model`` on ``records`` and the reasons for n/a metrics."""
    device = torch.device(device)
    model = model.eval().to(device)
    rows, reasons = [], {}
    for record in tqdm(records, desc="eval", unit="img", leave=False):
        blurry = read_image(record.blurry)
        sharp = None if record.sharp is None else read_image(record.sharp)
        if sharp is not None and sharp.shape != blurry.shape:
            raise DataError(
                f"size mismatch: {record.blurry} {blurry.shape[1:]} vs {record.sharp} {sharp.shape[1:]}"
            )
        restored, probs = restore(model, blurry, task, device)
        target = None if sharp is None else to_uint8(sharp.transpose(1, 2, 0))
        result = compute_metrics(
            restored.astype(np.float32) / 255.0,
            None if target is None else target.astype(np.float32) / 255.0,
            metrics,
            align=align and target is not None,
            paths=metric_paths,
        )
        reasons.update(result.reasons)
        row = {
            "dataset": record.dataset,
            "task": record.task,
            "image": record.blurry,
            "expert": task,
            **result.values,
        }
        if probs is not None:
            row["routed"] = TASKS[int(probs.argmax())]
            row.update({f"prob_{t}": float(p) for t, p in zip(TASKS, probs, strict=True)})
        rows.append(row)
        if save_dir is not None:
            write_image(
                Path(save_dir) / f"{len(rows) - 1:05d}_{Path(record.blurry).stem}.png", restored
            )
    return pd.DataFrame(rows), reasons


def summarize(per_image: pd.DataFrame, metrics: Sequence[str]) -> dict[str, float]:
    """Mean of each metric over images (NaN stays NaN: "n/a", never 0)."""
    return {m: float(per_image[m].mean()) if m in per_image else math.nan for m in metrics}
