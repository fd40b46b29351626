"""Decoded training store: every training image decoded once, cropped by memory map.

Training draws 384 x 384 crops (paper App. C) from images of up to 2152 x 1436 pixels
(ReLoBlur) stored as PNG/JPEG; decoding the two whole images of a pair for every crop
costs tens of milliseconds, so the loader, not the GPU, would set the training time.
The store decodes each image of the training manifest once into an uncompressed
``H x W x 3`` uint8 ``.npy`` file; :class:`DecodedStore` opens them with
``numpy.load(mmap_mode="r")``, so a crop reads only its own rows (384 rows of
384 x 3 bytes) from the page cache or disk.

Layout of a store folder::

    index.json          {"version": 1, "images": {<manifest path>: {file, shape, source}}}
    <sha1 of path>.npy  one decoded image

    .store_files.json   the store's own record: every file it created, and the index

``source`` records the file's size and modification time: a rebuild decodes again only
images whose file changed and removes ``.npy`` files no longer indexed. The store never
touches a file it did not create: it names each file in ``.store_files.json`` before
writing it (so a killed build leaves nothing unaccounted for), removes only files named
there, and refuses to build in a folder holding anything else (a user's file under a
``results`` folder that already existed). The record outlives ``index.json``, which the
workflow removes before it rebuilds the store, so a rebuild still reuses what is decoded.
Values are the ones :func:`demoe.data.images.read_uint8` decodes, so crops from the store
equal crops from the image files bit for bit.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections.abc import Iterable, Mapping
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from demoe.data.images import image_size, read_uint8
from demoe.data.manifest import Record
from demoe.errors import DataError
from demoe.io.atomic import atomic_path, is_temporary, sweep_stale_temps, write_json

INDEX = "index.json"
OWN_FILES = ".store_files.json"
VERSION = 1


def store_file(path: str) -> str:
    """File name of the decoded image of manifest path ``path`` (no collisions in practice)."""
    return hashlib.sha1(path.encode("utf-8")).hexdigest() + ".npy"


def _source(path: str) -> dict[str, int]:
    st = os.stat(path)
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns}


def _decode_one(job: tuple[str, str]) -> tuple[str, list[int]]:
    path, target = job
    image = read_uint8(path)
    with atomic_path(target) as tmp, open(tmp, "wb") as fh:
        np.save(fh, image, allow_pickle=False)
    return path, list(image.shape)


def image_paths(records: Iterable[Record]) -> list[str]:
    """Every distinct image file of ``records`` (blurry and sharp), in first-seen order."""
    seen: dict[str, None] = {}
    for rec in records:
        seen.setdefault(rec.blurry)
        if rec.sharp is not None:
            seen.setdefault(rec.sharp)
    return list(seen)


#: Typical ``(height, width)`` of a training image of each real dataset, from the
#: datasets' published resolutions (RealBlur-J's frames vary, about 773 x 680): our figures,
#: for the disk a store takes before its manifest exists (:func:`store_mb`).
NOMINAL_FRAME: dict[str, tuple[int, int]] = {
    "realblur_j": (773, 680),
    "reloblur": (1436, 2152),
    "gopro": (720, 1280),
    "dpdd": (1120, 1680),
    "lolblur": (640, 1120),
    "lolv2_real": (400, 600),
}
#: Images per dataset whose header :func:`manifest_store_mb` reads.
SIZE_SAMPLE = 16


def store_mb(pairs: Mapping[str, int], frames: Mapping[str, tuple[int, int]]) -> int:
    """MB a store takes for ``pairs`` (dataset → distinct training pairs) of images of
    ``frames`` (dataset → height, width): two uint8 RGB images per pair."""
    return math.ceil(sum(2 * 3 * n * math.prod(frames[d]) for d, n in pairs.items()) / 1e6)


def manifest_store_mb(records: Iterable[Record], sample: int = SIZE_SAMPLE) -> int:
    """MB the store of ``records`` takes: its distinct images times the mean decoded size
    of up to ``sample`` images per dataset, read from their headers (no decoding)."""
    by_dataset: dict[str, set[str]] = {}
    for r in records:
        if r.split == "train":
            by_dataset.setdefault(r.dataset, set()).update(image_paths([r]))
    total = 0.0
    for files in by_dataset.values():
        chosen = sorted(files)[:: max(1, len(files) // sample)][:sample]
        mean = sum(3 * math.prod(image_size(p)) for p in chosen) / len(chosen)
        total += mean * len(files)
    return math.ceil(total / 1e6)


def build_store(
    records: Iterable[Record], out: str | os.PathLike, workers: int = 1
) -> dict[str, Any]:
    """Decode every image of ``records`` into ``out``; returns a summary.

    Images already in the store with an unchanged source file are kept; entries (and
    ``.npy`` files) no longer referenced are removed. Decoding runs in ``workers``
    processes. A file that cannot be decoded raises :class:`DataError` naming it.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    sweep_stale_temps(out)  # killed writes of an earlier build (the folder is this job's)
    owned, old = _own_record(out)
    _refuse_foreign_files(out, owned)
    paths = image_paths(records)
    sources = {p: _source(p) for p in paths}
    images: dict[str, dict[str, Any]] = {}
    jobs = []
    for p in paths:
        entry = old.get(p)
        if entry and entry["source"] == sources[p] and (out / entry["file"]).is_file():
            images[p] = entry
        else:
            jobs.append((p, str(out / store_file(p))))
    owned |= {Path(target).name for _, target in jobs}
    write_json(out / OWN_FILES, {"version": VERSION, "files": sorted(owned), "images": images})
    if workers > 1 and len(jobs) > 1:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            decoded = list(pool.map(_decode_one, jobs, chunksize=4))
    else:
        decoded = [_decode_one(j) for j in jobs]
    for path, shape in decoded:
        images[path] = {"file": store_file(path), "shape": shape, "source": sources[path]}
    kept = {e["file"] for e in images.values()}
    removed = [name for name in sorted(owned - kept) if (out / name).is_file()]
    for name in removed:
        (out / name).unlink()
    write_json(out / OWN_FILES, {"version": VERSION, "files": sorted(kept), "images": images})
    write_json(out / INDEX, {"version": VERSION, "images": images})
    nbytes = sum(int(np.prod(e["shape"])) for e in images.values())
    return {
        "images": len(images),
        "decoded": len(jobs),
        "reused": len(images) - len(jobs),
        "removed": len(removed),
        "bytes": nbytes,
    }


def _own_record(root: Path) -> tuple[set[str], dict[str, dict[str, Any]]]:
    """The files the store created in ``root`` and its image entries: from its record,
    else from the index of a store written before the record existed, else none."""
    if (root / OWN_FILES).is_file():
        try:
            obj = json.loads((root / OWN_FILES).read_text(encoding="utf-8"))
            return set(obj["files"]), dict(obj["images"])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise DataError(f"cannot read the store's record {root / OWN_FILES}: {exc}") from exc
    if (root / INDEX).is_file():
        images = _read_index(root)
        return {e["file"] for e in images.values()}, images
    return set(), {}


def _refuse_foreign_files(root: Path, owned: set[str]) -> None:
    """DataError naming the entries of ``root`` the store did not create (never removed)."""
    ours = owned | {INDEX, OWN_FILES}
    foreign = sorted(p.name for p in root.iterdir() if p.name not in ours and not is_temporary(p))
    if foreign:
        shown = ", ".join(foreign[:3]) + (" …" if len(foreign) > 3 else "")
        raise DataError(
            f"{root} holds {len(foreign)} file(s) the decoded store did not create ({shown}): "
            "refusing to build the store there; move them or choose another results folder"
        )


def _read_index(root: Path) -> dict[str, dict[str, Any]]:
    try:
        obj = json.loads((root / INDEX).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DataError(f"cannot read store index {root / INDEX}: {exc}") from exc
    if not isinstance(obj, dict) or obj.get("version") != VERSION:
        raise DataError(f"{root / INDEX}: not a version-{VERSION} demoe store index")
    return obj["images"]


class DecodedStore:
    """Read side of a store folder: :meth:`array` maps a manifest path to its pixels."""

    def __init__(self, root: str | os.PathLike) -> None:
        self.root = Path(root)
        if not (self.root / INDEX).is_file():
            raise DataError(f"no decoded store at {self.root} (missing {INDEX}); build it first")
        self.images = _read_index(self.root)

    def __contains__(self, path: str) -> bool:
        return path in self.images

    def array(self, path: str) -> np.ndarray:
        """The ``H x W x 3`` uint8 image of ``path``, memory-mapped (read-only)."""
        entry = self.images.get(path)
        if entry is None:
            raise DataError(f"{path} is not in the decoded store {self.root}; rebuild it")
        array = np.load(self.root / entry["file"], mmap_mode="r", allow_pickle=False)
        if list(array.shape) != entry["shape"] or array.dtype != np.uint8:
            raise DataError(f"{self.root / entry['file']}: shape/dtype differ from the index")
        return array
