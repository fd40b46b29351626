"""Image files: uint8 PNG/JPEG on disk, float32 in [0, 1] in memory.

Readers raise :class:`ImageProblem` (a :class:`~demoe.errors.DataError`) naming the
file and the kind of fault (:data:`PROBLEM_KINDS`: zero-byte, truncated, unreadable,
unsupported pixels), so a bad file in a 10k-pair dataset is reported by name instead
of as a PIL traceback from a DataLoader worker, and the build counts every fault the
same way in every dataset.

16-bit images are read, not rejected: each value is scaled to the 8-bit range every
dataset, model and metric here uses by keeping its high byte (``v >> 8``), which is
what Pillow itself does with 16-bit-per-channel colour PNGs, so grey and colour 16-bit
files end up on one scale. Floating-point pixels (mode ``F``) and 32-bit integers
beyond 16 bits have no fixed range and are refused.

Truncated files are faults, never half images: Pillow's ``ImageFile.LOAD_TRUNCATED_IMAGES``
is left False, so its decoders raise instead of padding the missing rows with grey.
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import numpy as np
from PIL import ExifTags, Image, UnidentifiedImageError

from demoe.errors import DataError
from demoe.io.atomic import atomic_path

#: Kinds of unusable image files, as the build report counts them.
PROBLEM_KINDS: tuple[str, ...] = ("zero_byte", "truncated", "unreadable", "unsupported")
_SIXTEEN_BIT = ("I;16", "I;16B", "I;16L", "I;16N")
T = TypeVar("T")


class ImageProblem(DataError):
    """An image file that cannot be used; ``kind`` is one of :data:`PROBLEM_KINDS`."""

    def __init__(self, kind: str, path: str | os.PathLike, detail: str) -> None:
        super().__init__(f"cannot read image {path}: {detail}")
        self.kind = kind


IMAGE_SUFFIXES: frozenset[str] = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff"})


def is_image(path: str | os.PathLike) -> bool:
    """True if ``path`` has an image suffix (case-insensitive)."""
    return Path(path).suffix.lower() in IMAGE_SUFFIXES


def image_size(path: str | os.PathLike) -> tuple[int, int]:
    """``(width, height)`` from the file header, without decoding the pixels."""
    return _decoded(path, lambda im: im.size)


@dataclass(frozen=True)
class ImageHeader:
    """What a file's header says, read without decoding its pixels."""

    width: int
    height: int
    #: pages of a TIFF, frames of an animated PNG (1 for a still image)
    frames: int
    #: EXIF orientation (1 to 8; 1: stored upright, or no EXIF)
    orientation: int
    #: Pillow's name of the format found in the file ("PNG", "JPEG", ...), whatever the suffix
    format: str


def read_header(path: str | os.PathLike) -> ImageHeader:
    """The header of ``path`` (:class:`ImageHeader`); faults are :class:`ImageProblem`, and so
    are pixel counts beyond Pillow's decompression-bomb ceiling (2 × ``Image.MAX_IMAGE_PIXELS``)."""
    return _decoded(path, _header)


def _header(im: Image.Image) -> ImageHeader:
    # A PNG's EXIF chunk precedes its pixel data; Pillow decodes the whole image to look
    # for one after them, so only one already seen in the header is read.
    read_exif = im.format != "PNG" or "exif" in im.info
    orientation = im.getexif().get(ExifTags.Base.Orientation, 1) if read_exif else 1
    return ImageHeader(
        width=im.width,
        height=im.height,
        frames=int(getattr(im, "n_frames", 1)),
        orientation=orientation if orientation in range(1, 9) else 1,
        format=im.format or "",
    )


def read_uint8(path: str | os.PathLike) -> np.ndarray:
    """Decode an image fully as ``H x W x 3`` uint8 RGB (grey and RGBA are converted,
    16-bit scaled to 8 bits: see the module docstring)."""
    return _decoded(path, lambda im: _rgb_uint8(im, path))


def _decoded(path: str | os.PathLike, use: Callable[[Image.Image], T]) -> T:
    """``use(image)`` of the opened file ``path``; every fault is an :class:`ImageProblem`."""
    _check_not_empty(path)
    try:
        with Image.open(path) as im:
            return use(im)
    except (
        OSError,
        UnidentifiedImageError,
        ValueError,
        SyntaxError,
        Image.DecompressionBombError,
    ) as exc:
        raise _problem(path, exc) from exc


def image_problem(path: str | os.PathLike) -> ImageProblem | None:
    """What stops ``path`` from decoding fully (None when it decodes)."""
    try:
        read_uint8(path)
    except ImageProblem as exc:
        return exc
    return None


def _rgb_uint8(im: Image.Image, path: str | os.PathLike) -> np.ndarray:
    if im.mode in _SIXTEEN_BIT or im.mode == "I":
        values = np.asarray(im)
        if values.size and (values.min() < 0 or values.max() > 0xFFFF):
            raise ImageProblem("unsupported", path, "32-bit integer pixels beyond 16 bits")
        grey = (values.astype(np.uint32) >> 8).astype(np.uint8)
        return np.repeat(grey[..., None], 3, axis=2)
    if im.mode == "F":
        raise ImageProblem(
            "unsupported", path, "floating-point pixels (no fixed range to map to 8 bits)"
        )
    return np.asarray(im.convert("RGB"), dtype=np.uint8)


def _check_not_empty(path: str | os.PathLike) -> None:
    try:
        size = os.path.getsize(path)
    except OSError as exc:
        raise ImageProblem("unreadable", path, exc.strerror or str(exc)) from exc
    if size == 0:
        raise ImageProblem("zero_byte", path, "empty file (0 bytes)")


def _problem(path: str | os.PathLike, exc: BaseException) -> ImageProblem:
    if isinstance(exc, ImageProblem):
        return exc
    kind = "truncated" if "truncated" in str(exc) else "unreadable"
    return ImageProblem(kind, path, str(exc) or type(exc).__name__)


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
