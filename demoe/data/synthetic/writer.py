"""Write the embedded synthetic AIO-Blur / AIO-Blur-OOD in the published layouts.

``synth_aioblur(out, scale, seed)`` lays out, under ``out``, folders named and
structured like the real datasets (GOPRO_Large, RealBlur, ReLoBlur, LOLBlur,
DPDD, RealDOF, RSBlur, Real-LOLBlur), so the default DAG runs the very
adapters of :mod:`demoe.data.layouts` that read the real data. Sharp images
are procedural dead-leaves (:mod:`.sources`, no licence restriction); each
dataset uses the generator of its blur type (:mod:`.generators`). As in the
paper (Table 4), LOLBlur's training set is the largest, so that the MSE rule
of Fig. 10 has something to subsample. Every pair has its own seed
``(seed, dataset, split, index)``: the tree is reproducible and independent
of generation order.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from demoe.data.build import DEFAULT_ROOTS
from demoe.data.images import write_image
from demoe.data.synthetic.generators import GENERATORS, SynthPair
from demoe.data.synthetic.sources import SceneStyle, dead_leaves
from demoe.errors import DataError
from demoe.io.atomic import write_json, write_text
from demoe.tasks import DATASETS

MARKER = "SYNTHETIC.json"


@dataclass(frozen=True)
class Scale:
    """Pairs per split and image size ``(height, width)`` per dataset."""

    counts: dict[str, dict[str, int]]
    sizes: dict[str, tuple[int, int]]
    per_sequence: int  # frames per GoPro/LOLBlur sequence, images per RealBlur scene
    real_lolblur_realblur: int  # Real-LOLBlur images that belong to RealBlur (excluded)


def _counts(train: dict[str, int], test: int, ood: int) -> dict[str, dict[str, int]]:
    counts = {name: {"train": n, "test": test} for name, n in train.items()}
    counts["dpdd"]["val"] = test  # DPDD ships a validation split; AIO-Blur does not use it
    counts.update({name: {"test": ood} for name in ("realdof", "rsblur", "real_lolblur")})
    return counts


SCALES: dict[str, Scale] = {
    # ~1/100 of Table 4's original sizes; DPDD at least 6 pairs.
    "small": Scale(
        counts=_counts(
            {"realblur_j": 38, "reloblur": 20, "gopro": 21, "dpdd": 6, "lolblur": 102},
            test=6,
            ood=6,
        ),
        sizes={
            "realblur_j": (192, 160),
            "reloblur": (160, 192),
            "gopro": (128, 192),
            "dpdd": (128, 192),
            "lolblur": (144, 192),
            "realdof": (128, 192),
            "rsblur": (144, 192),
            "real_lolblur": (144, 192),
        },
        per_sequence=7,
        real_lolblur_realblur=2,
    ),
    "tiny": Scale(
        counts=_counts(
            {"realblur_j": 4, "reloblur": 3, "gopro": 3, "dpdd": 2, "lolblur": 12},
            test=2,
            ood=2,
        ),
        # 96 × 192: the smallest image giving NIQE two 96×96 patches (Real-LOLBlur, Table 9).
        sizes={name: (96, 192) for name in DATASETS},
        per_sequence=2,
        real_lolblur_realblur=1,
    ),
}

#: Generator and its parameters per dataset (OOD sets differ from their in-distribution kin).
#: Blur sizes are fractions of the short side, strong enough at the small scale's
#: 128-192 px that the five blur types look different in a 64-px training crop: defocus
#: discs up to ~11 px, camera-shake trajectories of 8-17 px, GoPro frame averages over
#: 4-12 px of camera travel, local motion of a large object.
RECIPES: dict[str, tuple[str, dict[str, Any]]] = {
    "realblur_j": ("camera_shake", {"length": (0.05, 0.09)}),
    "gopro": ("frame_average", {"shift": (0.03, 0.06)}),
    "reloblur": ("local_motion", {"size": (0.25, 0.45)}),
    "dpdd": ("defocus", {"max_radius": (0.03, 0.06)}),
    "lolblur": ("low_light", {}),
    "realdof": ("defocus", {"max_radius": (0.04, 0.07), "layers": (1, 2)}),
    "rsblur": (
        "camera_shake",
        {"length": (0.05, 0.09), "lights": 6, "jpeg": None, "photons": (200.0, 1500.0)},
    ),
    "real_lolblur": ("low_light", {"exposure": (0.02, 0.15)}),
}

#: Scene statistics per dataset (``sources.SceneStyle``), loosely after the real sets'
#: content: DPDD/RealDOF outdoor DSLR scenes (large smooth leaves in foliage and earth
#: hues), RealBlur indoor scenes (warm hues), ReLoBlur moving objects in front of plain
#: pastel backgrounds, GoPro streets (small, striped, blue-grey), LOLBlur night scenes
#: (any colour: the darkness sets them apart). RealDOF shares DPDD's scenes, while RSBlur
#: and Real-LOLBlur have scenes of their own, as the real OOD sets differ from AIO-Blur
#: (paper Sec. 4.2, Fig. 4).
SCENES: dict[str, SceneStyle] = {
    "dpdd": SceneStyle(24, 3, (0.05, 0.38), (0.35, 0.85), (0.25, 0.9), (0.2, 0.7, 0.1)),
    "realdof": SceneStyle(24, 3, (0.05, 0.38), (0.35, 0.85), (0.25, 0.9), (0.2, 0.7, 0.1)),
    "realblur_j": SceneStyle(40, 4, (0.9, 1.15), (0.2, 0.7), (0.15, 0.8), (0.5, 0.3, 0.2)),
    "rsblur": SceneStyle(60, 6, (0.45, 0.75), (0.5, 1.0), (0.3, 1.0), (0.3, 0.2, 0.5)),
    "reloblur": SceneStyle(30, 4, (0.0, 1.0), (0.0, 0.3), (0.4, 0.95), (0.7, 0.2, 0.1)),
    "gopro": SceneStyle(
        60, 6, (0.5, 0.7), (0.05, 0.45), (0.2, 0.95), (0.2, 0.2, 0.6), stripe_freq=(0.6, 2.0)
    ),
    "lolblur": SceneStyle(),
    "real_lolblur": SceneStyle(30, 4, (0.55, 0.85), (0.4, 0.9), (0.3, 1.0)),
}

SPLIT_IDS = {"train": 0, "test": 1, "val": 2}
REALBLUR_DIR = "RealBlur-J_ECC_IMCORR_centroid_itensity_ref"


def pair_rng(seed: int, dataset: str, split: str, index: int) -> np.random.Generator:
    """The generator of one pair: independent of the order pairs are made in."""
    return np.random.default_rng([seed, list(DATASETS).index(dataset), SPLIT_IDS[split], index])


def generate(dataset: str, split: str, index: int, size: tuple[int, int], seed: int) -> SynthPair:
    """Generate pair ``index`` of a dataset split with the dataset's recipe and scenes."""
    name, params = RECIPES[dataset]
    fn, task = GENERATORS[name]
    source = partial(dead_leaves, style=SCENES[dataset])
    pair = fn(pair_rng(seed, dataset, split, index), size[0], size[1], source, **params)
    assert pair.task == task == DATASETS[dataset].task
    return pair


# Relative paths (blurry, sharp) of pair ``i`` in each published layout.
PathFn = Callable[[str, int, int], tuple[str, str]]


def _gopro(split: str, i: int, k: int) -> tuple[str, str]:
    seq = f"{split}/GOPR{i // k:04d}_00"
    return f"{seq}/blur/{i:06d}.png", f"{seq}/sharp/{i:06d}.png"


def _realblur(split: str, i: int, k: int) -> tuple[str, str]:
    scene = f"{REALBLUR_DIR}/scene{i // k + (1 if split == 'train' else 201):03d}"
    return f"{scene}/blur/blur_{i % k + 1}.png", f"{scene}/gt/gt_{i % k + 1}.png"


def _reloblur(split: str, i: int, k: int) -> tuple[str, str]:
    name = f"s{i // k + 1:02d}_{i:05d}.png"
    return f"{split}/blur/{name}", f"{split}/gt/{name}"


def _lolblur(split: str, i: int, k: int) -> tuple[str, str]:
    name = f"{i // k:04d}/{i:04d}.png"
    return f"{split}/low_blur_noise/{name}", f"{split}/high_sharp_scaled/{name}"


def _dpdd(split: str, i: int, k: int) -> tuple[str, str]:
    return f"{split}_c/source/{split}_{i:04d}.png", f"{split}_c/target/{split}_{i:04d}.png"


def _realdof(split: str, i: int, k: int) -> tuple[str, str]:
    return f"source/{i:04d}.png", f"target/{i:04d}.png"


def _rsblur(split: str, i: int, k: int) -> tuple[str, str]:
    base = f"{i // k + 1:04d}/{i:05d}"
    return f"{base}/real_blur/real_blur.png", f"{base}/gt/gt_sharp.png"


def _real_lolblur(split: str, i: int, k: int) -> tuple[str, str]:
    return f"low_{i:04d}.png", ""


LAYOUT_PATHS: dict[str, PathFn] = {
    "gopro": _gopro,
    "realblur_j": _realblur,
    "reloblur": _reloblur,
    "lolblur": _lolblur,
    "dpdd": _dpdd,
    "realdof": _realdof,
    "rsblur": _rsblur,
    "real_lolblur": _real_lolblur,
}
LIST_FILES = {
    ("realblur_j", "train"): "RealBlur_J_train_list.txt",
    ("realblur_j", "test"): "RealBlur_J_test_list.txt",
    ("rsblur", "test"): "RSBlur_real_test.txt",
}


def _prepare(out: Path) -> None:
    """Empty the dataset folders of a previous synthetic tree; never touch real data."""
    present = [n for n in DEFAULT_ROOTS.values() if (out / n).exists()]
    if present and not (out / MARKER).is_file():
        raise DataError(
            f"{out} holds {present} but no {MARKER}: not a synthetic tree, refusing to overwrite"
        )
    for name in present:
        shutil.rmtree(out / name)


def _write_split(root: Path, dataset: str, split: str, n: int, scale: Scale, seed: int) -> None:
    lines = []
    for i in range(n):
        pair = generate(dataset, split, i, scale.sizes[dataset], seed)
        blurry, sharp = LAYOUT_PATHS[dataset](split, i, scale.per_sequence)
        write_image(root / blurry, pair.blurry)
        if sharp:
            write_image(root / sharp, pair.sharp)
            lines.append(f"{sharp} {blurry}\n")
        if pair.mask is not None:
            write_image(
                root / split / "mask" / Path(blurry).name, np.repeat(pair.mask[..., None], 3, 2)
            )
    if (dataset, split) in LIST_FILES:
        write_text(root / LIST_FILES[dataset, split], "".join(lines))


def _write_realblur_subset(root: Path, scale: Scale, seed: int) -> None:
    """Real-LOLBlur images that come from RealBlur, named so ``data.layouts`` excludes them."""
    for i in range(scale.real_lolblur_realblur):
        pair = generate("real_lolblur", "val", i, scale.sizes["real_lolblur"], seed)
        write_image(root / f"realblur_{i:04d}.png", pair.blurry)


def _lists(params: dict[str, Any]) -> dict[str, Any]:
    """``params`` with tuples as lists (as JSON reads them back)."""
    return {n: list(v) if isinstance(v, tuple) else v for n, v in params.items()}


def synth_aioblur(out: str | os.PathLike, scale: str = "small", seed: int = 0) -> dict[str, Any]:
    """Write the synthetic datasets under ``out``; returns the summary also in ``SYNTHETIC.json``."""
    if scale not in SCALES:
        raise ValueError(f"unknown scale {scale!r}; choose from {sorted(SCALES)}")
    spec, out = SCALES[scale], Path(out)
    _prepare(out)
    for dataset, splits in spec.counts.items():
        root = out / DEFAULT_ROOTS[dataset]
        for split, n in splits.items():
            _write_split(root, dataset, split, n, spec, seed)
    _write_realblur_subset(out / DEFAULT_ROOTS["real_lolblur"], spec, seed)
    summary = {
        "scale": scale,
        "seed": seed,
        "counts": spec.counts,
        "sizes": {k: list(v) for k, v in spec.sizes.items()},
        "real_lolblur_realblur_subset": spec.real_lolblur_realblur,
        "recipes": {k: {"generator": g, "params": _lists(p)} for k, (g, p) in RECIPES.items()},
        "scenes": {k: _lists(asdict(v)) for k, v in SCENES.items()},
        "source": "procedural textured dead-leaves (demoe.data.synthetic.sources); "
        "generated, no third-party images, redistributable",
    }
    write_json(out / MARKER, summary)
    return summary
