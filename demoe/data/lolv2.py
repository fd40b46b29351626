"""The LOLv2-real manifest of Fig. 8's other-task model (paper App. A).

LOLv2-real is not part of AIO-Blur: it has its own manifest (train and test records of
dataset ``lolv2_real``, task None), read only by the ``nafnet_lolv2_real`` experiment.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from demoe.data.build import scan_dataset
from demoe.data.manifest import Record, write_manifest
from demoe.errors import DataError

DATASET = "lolv2_real"


def build_lolv2_manifest(
    root: str | os.PathLike, out: str | os.PathLike, layout: Mapping[str, Any] | None = None
) -> dict[str, int]:
    """Scan LOLv2-real at ``root`` (``demoe.data.layouts.lolv2_real``; ``layout``
    overrides its sub-paths) and write the manifest ``out``; returns pairs per split.
    DataError naming ``data.roots.lolv2_real`` when a split has no usable pair."""
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"data.roots.{DATASET}: dataset root {root} does not exist")
    found = scan_dataset(DATASET, root, layout)
    empty = {s: dict(f.problems.counts) or "no images" for s, f in found.items() if not f.pairs}
    if empty:
        raise DataError(f"data.roots.{DATASET}: no usable pairs under {root}: {empty}")
    records = [
        Record(str(p.blurry), str(p.sharp), None, DATASET, split)
        for split, f in found.items()
        for p in f.pairs
    ]
    write_manifest(out, records)
    return {split: len(f.pairs) for split, f in found.items()}
