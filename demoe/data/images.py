"""Image files: uint8 PNG/JPEG on disk, float32 in [0, 1] in memory.

Readers raise :class:`~demoe.errors.DataError` naming the file when it is
missing, truncated or not an image, so a bad file in a 10k-pair dataset is
reported by name instead of as a PIL traceback from a DataLoader worker.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from demoe.errors import DataError
from demoe.io.atomic import atomic_path

IMAGE_SUFFIXES: frozenset[str] = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff"})


def is_image(path: str | os.PathLike) -> bool:
    """True if ``path`` has an image suffix (case-insensitive)."""
    return Path(path).suffix.lower() in IMAGE_SUFFIXES


def image_size(path: str | os.PathLike) -> tuple[int, int]:
    """``(width, height)`` from the file header, without decoding the pixels."""
    try:
        with Image.open(path) as im:
            return im.size
    except (OSError, UnidentifiedImageError, ValueError) as exc:
        raise DataError(f"cannot read image {path}: {exc}") from exc


def read_uint8(path: str | os.PathLike) -> np.ndarray:
    """Decode an image as ``H x W x 3`` uint8 RGB (grey and RGBA are converted)."""
    try:
        with Image.open(path) as im:
            return np.asarray(im.convert("RGB"), dtype=np.uint8)
    except (OSError, UnidentifiedImageError, ValueError) as exc:
        raise DataError(f"cannot read image {path}: {exc}") from exc


def read_hwc(path: str | os.PathLike) -> np.ndarray:
    """Decode an image as ``H x W x 3`` float32 in [0, 1]."""
    return read_uint8(path).astype(np.float32) / 255.0


def read_image(path: str | os.PathLike) -> np.ndarray:
    """Decode an image as ``3 x H x W`` float32 in [0, 1] (the layout models take)."""
    return np.ascontiguousarray(read_hwc(path).transpose(2, 0, 1))


def to_uint8(image: np.ndarray) -> np.ndarray:
    """Round an ``H x W x 3`` float image in [0, 1] to uint8 (values are clipped)."""
    if image.dtype == np.uint8:
        return image
    return (np.clip(image, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def write_image(path: str | os.PathLike, image: np.ndarray, quality: int = 95) -> None:
    """Write an ``H x W x 3`` image (uint8, or float in [0, 1]) atomically.

    The format follows the suffix; PNG uses fast compression (level 1).
    """
    target = Path(path)
    pil = Image.fromarray(to_uint8(image))
    with atomic_path(target) as tmp:
        if target.suffix.lower() == ".png":
            pil.save(tmp, compress_level=1)
        else:
            pil.save(tmp, quality=quality)


def jpeg_roundtrip(image: np.ndarray, quality: int) -> np.ndarray:
    """Compress and decompress an ``H x W x 3`` image in memory (camera JPEG artifacts)."""
    buf = io.BytesIO()
    Image.fromarray(to_uint8(image)).save(buf, format="JPEG", quality=int(quality))
    buf.seek(0)
    return np.asarray(Image.open(buf).convert("RGB"), dtype=np.float32) / 255.0
