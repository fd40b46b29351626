"""A synthetic LOLv2-real (low-light enhancement, no blur) for Fig. 8 of the default run.

Paper App. A compares the per-dataset deblurring NAFNets with a NAFNet trained for
low-light enhancement on LOLv2-real (Yang et al., 2021). The embedded default has no real
data, so it writes a stand-in in LOLv2's published layout
(``LOLv2/Real_captured/{Train,Test}/{Low,Normal}/{low,normal}NNNNN.png``), made by
:func:`demoe.data.synthetic.generators.low_light_enhancement` from the same dead-leaves
scenes as the blur sets, each pair with its own seed ``(seed, "lolv2_real", split, i)``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from demoe.data.images import write_image
from demoe.data.synthetic.generators import low_light_enhancement
from demoe.data.synthetic.writer import pair_rng
from demoe.errors import DataError
from demoe.io.atomic import write_json

#: Pairs per split and image size (height, width) per scale of the synthetic default.
LOLV2_SCALES: dict[str, dict[str, Any]] = {
    "small": {"counts": {"train": 24, "test": 4}, "size": (128, 192)},
    "tiny": {"counts": {"train": 3, "test": 1}, "size": (96, 192)},
}
LOLV2_FOLDER = "LOLv2"
MARKER = "SYNTHETIC_LOLV2.json"
_SPLITS = {"train": "Train", "test": "Test"}


def synth_lolv2(out: str | os.PathLike, scale: str = "small", seed: int = 0) -> dict[str, Any]:
    """Write the synthetic LOLv2-real under ``out``/LOLv2; returns the summary (also in
    ``out``/SYNTHETIC_LOLV2.json). Refuses a folder that holds a LOLv2 not written here."""
    if scale not in LOLV2_SCALES:
        raise ValueError(f"unknown scale {scale!r}; choose from {sorted(LOLV2_SCALES)}")
    out = Path(out)
    if (out / LOLV2_FOLDER).exists() and not (out / MARKER).is_file():
        raise DataError(f"{out / LOLV2_FOLDER} exists but is not synthetic: refusing to overwrite")
    spec = LOLV2_SCALES[scale]
    height, width = spec["size"]
    base = out / LOLV2_FOLDER / "Real_captured"
    for split, n in spec["counts"].items():
        for i in range(n):
            pair = low_light_enhancement(pair_rng(seed, "lolv2_real", split, i), height, width)
            folder = base / _SPLITS[split]
            write_image(folder / "Low" / f"low{i + 1:05d}.png", pair.blurry)
            write_image(folder / "Normal" / f"normal{i + 1:05d}.png", pair.sharp)
    summary = {"scale": scale, "seed": seed, "counts": spec["counts"], "size": list(spec["size"])}
    write_json(out / MARKER, summary)
    return summary
