"""A toy AIO-Blur (random images, a box blur as "degradation") and a tiny training config,
for tests and the training benchmark. Not a dataset of the paper."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from demoe.data.images import write_image
from demoe.data.manifest import Record, write_manifest
from demoe.tasks import AIO_BLUR, DATASETS
from demoe.train.config import TrainConfig, from_dict


def write_toy_aioblur(
    folder: str | Path,
    size: int = 32,
    train_per_dataset: int = 4,
    test_per_dataset: int = 1,
    seed: int = 0,
) -> dict[str, str]:
    """PNG pairs of every AIO-Blur dataset and their train/test manifests; returns the
    manifest paths (``train``, ``test``)."""
    folder = Path(folder)
    rng = np.random.default_rng(seed)
    records = {"train": [], "test": []}
    for k, name in enumerate(AIO_BLUR):
        counts = {"train": train_per_dataset, "test": test_per_dataset}
        for split, count in counts.items():
            for i in range(count):
                sharp = _smooth_noise(rng, size)
                blurry = np.clip(_box_blur(sharp, 1 + k % 3) + 0.02 * k, 0, 1)
                stem = folder / name / split / f"{i:03d}"
                write_image(f"{stem}_sharp.png", sharp)
                write_image(f"{stem}_blurry.png", blurry)
                task = DATASETS[name].task
                records[split].append(
                    Record(f"{stem}_blurry.png", f"{stem}_sharp.png", task, name, split)
                )
    paths = {}
    for split, recs in records.items():
        paths[split] = str(folder / f"toy_{split}.jsonl")
        write_manifest(paths[split], recs)
    return paths


def _smooth_noise(rng: np.random.Generator, size: int) -> np.ndarray:
    coarse = rng.uniform(size=(size // 4, size // 4, 3))
    return np.kron(coarse, np.ones((4, 4, 1))).astype(np.float32)


def _box_blur(image: np.ndarray, radius: int) -> np.ndarray:
    out = np.zeros_like(image)
    n = 0
    for dy in range(-radius, radius + 1):
        for dx in range(-radius, radius + 1):
            out += np.roll(image, (dy, dx), axis=(0, 1))
            n += 1
    return out / n


TINY_MODEL: dict[str, Any] = {
    "width": 4,
    "middle_blk_num": 1,
    "enc_blk_nums": [1, 1, 1, 1],
    "dec_blk_nums": [1, 1, 1, 1],
}


def toy_config(
    manifests: dict[str, str], out: str | Path, preset: str = "demoe_baseline", **sections: Any
) -> TrainConfig:
    """A complete, valid config training ``preset`` (tiny) on the toy data; ``sections``
    update the default sections (``run={"seed": 1}``, ``loss={"lambda_cls": 0}`` …)."""
    out = Path(out)
    obj: dict[str, Any] = {
        "experiment": "toy",
        "description": "toy run",
        "output": str(out / "model"),
        "checkpoint_dir": str(out / "checkpoints"),
        "model": {
            "preset": preset,
            "overrides": dict(TINY_MODEL),
            "gating": "auto",
            "router_noise": 0.0,
            "task": "auto",
        },
        "init": {"source": None, "mode": "expand"},
        "freeze": {"groups": [], "trainable_experts": None},
        "loss": {"lambda_cls": 0.001 if preset != "nafnet" else 0.0},
        "data": {
            "train_manifest": manifests["train"],
            "val_manifest": manifests["test"],
            "datasets": list(AIO_BLUR),
            "crop": 32,
            "flips": True,
            "batch_size": 4,
            "balance": "none",
            "num_workers": 0,
            "val_per_dataset": 1,
        },
        "schedule": {"steps": 6, "epochs": None},
        "optim": {
            "lr": 1e-3,
            "min_lr": 1e-7,
            "betas": [0.9, 0.9],
            "weight_decay": 1e-3,
            "eps": 1e-8,
            "grad_clip": 0.01,
        },
        "run": {
            "seed": 0,
            "device": "cpu",
            "amp": "none",
            "channels_last": False,
            "checkpoint_every": 0,
            "keep_checkpoints": 2,
            "val_every": 0,
            "log_every": 1,
            "max_bad_steps": 10,
            "progress": False,
        },
    }
    for name, values in sections.items():
        obj[name] = {**obj[name], **values} if isinstance(obj[name], dict) else values
    return from_dict(obj)
