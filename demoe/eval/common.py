"""Shared pieces of the metrics: the "metric unavailable" error and image conversion.

Image conventions (every metric in :mod:`demoe.eval`):

* RGB float images with values in [0, 1]; integer arrays are refused (a uint8 image
  would silently be scored on a 0–255 scale);
* numpy arrays are ``(H, W, C)`` or ``(H, W)``; torch tensors are ``(C, H, W)`` or a
  batch ``(B, C, H, W)``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from demoe.errors import CheckpointError, DataError, DemoeError

Image = np.ndarray | torch.Tensor


class MetricUnavailable(DemoeError):
    """A metric cannot be computed here (weights or model parameters are missing).

    Its message is a one-line reason; callers report the metric as "n/a" with that
    reason, never as 0.
    """


def read_local_weights(
    path: Path, what: str = "weights", wrapper: str | None = None
) -> Mapping[str, Any]:
    """The state_dict in a metric's local weight file, read with
    ``torch.load(weights_only=True)`` (nothing is unpickled but tensors and containers).

    ``wrapper``: a key whose value is the state_dict when the file holds a dict with it
    (e.g. BasicSR's ``params``). CheckpointError naming ``what`` and the file when it
    cannot be read or holds no mapping.
    """
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - any unreadable file is a checkpoint error
        raise CheckpointError(f"cannot read {what} {path}: {err}") from err
    if wrapper is not None and isinstance(state, Mapping) and wrapper in state:
        state = state[wrapper]
    if not isinstance(state, Mapping):
        raise CheckpointError(f"{path} does not hold a state_dict")
    return state


def as_batch(image: Image) -> torch.Tensor:
    """``image`` as a float64 CPU tensor (B, C, H, W), following the module conventions."""
    if isinstance(image, np.ndarray):
        if not np.issubdtype(image.dtype, np.floating):
            raise DataError(f"expected a float image in [0, 1], got dtype {image.dtype}")
        if image.ndim == 2:
            image = image[:, :, None]
        if image.ndim != 3:
            raise DataError(f"expected a numpy image (H, W, C) or (H, W), got shape {image.shape}")
        hwc = torch.from_numpy(np.ascontiguousarray(image, dtype=np.float64))
        return hwc.permute(2, 0, 1)[None]
    if isinstance(image, torch.Tensor):
        if not image.is_floating_point():
            raise DataError(f"expected a float image in [0, 1], got dtype {image.dtype}")
        if image.dim() == 3:
            image = image[None]
        if image.dim() != 4:
            raise DataError(
                f"expected a tensor (C, H, W) or (B, C, H, W), got shape {tuple(image.shape)}"
            )
        return image.detach().to("cpu", torch.float64)
    raise DataError(f"expected a numpy array or torch tensor, got {type(image).__name__}")


def is_batched(image: Image) -> bool:
    """True for a torch batch (B, C, H, W): metrics then return one value per image."""
    return isinstance(image, torch.Tensor) and image.dim() == 4


def check_pair(pred: Image, target: Image) -> tuple[torch.Tensor, torch.Tensor]:
    """Both images as batches; DataError naming both shapes when they differ."""
    a, b = as_batch(pred), as_batch(target)
    if a.shape != b.shape:
        raise DataError(
            f"prediction and target differ in size: {tuple(pred.shape)} vs {tuple(target.shape)}"
        )
    return a, b


def to_hwc(image: Image) -> np.ndarray:
    """A single image as a float64 numpy array (H, W, C)."""
    batch = as_batch(image)
    if batch.shape[0] != 1:
        raise DataError(f"expected a single image, got a batch of {batch.shape[0]}")
    return batch[0].permute(1, 2, 0).numpy()


def luminance(image: np.ndarray) -> np.ndarray:
    """Grey level of an (H, W, C) image: ITU-R BT.601 luma for RGB, the channel otherwise."""
    if image.shape[2] == 3:
        return image @ np.array([0.299, 0.587, 0.114])
    if image.shape[2] == 1:
        return image[:, :, 0]
    raise DataError(f"expected 1 or 3 channels, got {image.shape[2]}")
