"""Torch datasets and samplers over AIO-Blur manifests (paper Sec. 4).

* :class:`PairedDataset`: training mode yields random ``crop`` x ``crop``
  patches (default 384, the paper's training patch) with random flips;
  evaluation mode (``crop=None``) yields whole images. Items are dicts
  ``{blurry, sharp, task_index, dataset, path}`` (``sharp`` is absent for
  unpaired images). Augmentation is seeded by ``(seed, epoch, index)``, so it
  is reproducible and independent of DataLoader workers. Pixels come from the
  image files or, given a :class:`~demoe.data.store.DecodedStore`, from its
  memory-mapped decoded copies; crops are cut from uint8 before the conversion to
  float, so both sources give the same tensors bit for bit.
* :class:`BalancedTaskSampler`: each epoch draws indices so that every task
  is equally likely, and shards them by rank like
  ``torch.utils.data.DistributedSampler`` (call ``set_epoch`` each epoch).
"""

from __future__ import annotations

import math
import os
from collections import Counter
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch.utils.data import Dataset, Sampler

from demoe.data.images import read_uint8
from demoe.data.manifest import Record, read_manifest
from demoe.data.store import DecodedStore


class PairedDataset(Dataset):
    """Blurry/sharp pairs of a manifest, as float32 ``3 x H x W`` tensors in [0, 1]."""

    def __init__(
        self,
        records: Sequence[Record] | str | os.PathLike,
        crop: int | None = 384,
        flip: bool = True,
        seed: int = 0,
        store: DecodedStore | None = None,
    ) -> None:
        self.records = (
            read_manifest(records) if isinstance(records, str | os.PathLike) else list(records)
        )
        if crop is not None and crop < 1:
            raise ValueError(f"crop must be positive or None, got {crop}")
        self.crop, self.flip, self.seed, self.epoch = crop, flip, seed, 0
        self.store = store

    def set_epoch(self, epoch: int) -> None:
        """Change the augmentation draws (crops, flips) for a new epoch."""
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, index: int) -> dict[str, Any]:
        rec = self.records[index]
        images = [self._pixels(rec.blurry)]
        if rec.sharp is not None:
            images.append(self._pixels(rec.sharp))
        if self.crop is not None:
            rng = np.random.default_rng([self.seed, self.epoch, index])
            images = _augment(images, self.crop, self.flip, rng)
        images = [_to_chw_float(im) for im in images]
        item: dict[str, Any] = {
            "blurry": torch.from_numpy(images[0]),
            "task_index": rec.task_index,
            "dataset": rec.dataset,
            "path": rec.blurry,
        }
        if rec.sharp is not None:
            item["sharp"] = torch.from_numpy(images[1])
        return item

    def _pixels(self, path: str) -> np.ndarray:
        """``H x W x 3`` uint8 pixels of ``path`` (memory-mapped when a store is given)."""
        return self.store.array(path) if self.store is not None else read_uint8(path)


def _to_chw_float(image: np.ndarray) -> np.ndarray:
    """``H x W x 3`` uint8 -> contiguous ``3 x H x W`` float32 in [0, 1]."""
    return np.ascontiguousarray(image.transpose(2, 0, 1), dtype=np.float32) / np.float32(255.0)


def _augment(
    images: list[np.ndarray], crop: int, flip: bool, rng: np.random.Generator
) -> list[np.ndarray]:
    """Same random crop (reflect-padded up to ``crop`` if smaller) and flips for every
    ``H x W x C`` image."""
    h, w = images[0].shape[:2]
    pad_h, pad_w = max(0, crop - h), max(0, crop - w)
    if pad_h or pad_w:
        mode = "reflect" if pad_h < h and pad_w < w else "edge"
        images = [np.pad(im, ((0, pad_h), (0, pad_w), (0, 0)), mode=mode) for im in images]
        h, w = h + pad_h, w + pad_w
    y, x = int(rng.integers(0, h - crop + 1)), int(rng.integers(0, w - crop + 1))
    images = [im[y : y + crop, x : x + crop] for im in images]
    if flip and rng.uniform() < 0.5:
        images = [im[:, ::-1] for im in images]
    if flip and rng.uniform() < 0.5:
        images = [im[::-1] for im in images]
    return images


def task_weights(tasks: Sequence[str | None]) -> np.ndarray:
    """Per-item probabilities giving every task the same total weight."""
    counts = Counter(tasks)
    weights = np.array([1.0 / (len(counts) * counts[t]) for t in tasks])
    return weights / weights.sum()


class BalancedTaskSampler(Sampler[int]):
    """Per-epoch weighted sampling (equal weight per task), sharded by rank.

    Like ``DistributedSampler``: all ranks draw the same ``num_samples``
    indices from ``seed + epoch``, pad to a multiple of ``num_replicas`` and
    take every ``num_replicas``-th from ``rank``. ``balance="none"`` gives a
    plain shuffle (a permutation) instead of task balancing.
    """

    def __init__(
        self,
        dataset: PairedDataset | Sequence[Record],
        num_samples: int | None = None,
        num_replicas: int | None = None,
        rank: int | None = None,
        seed: int = 0,
        balance: str = "task",
    ) -> None:
        records = dataset.records if isinstance(dataset, PairedDataset) else list(dataset)
        if not records:
            raise ValueError("cannot sample from an empty dataset")
        if balance not in ("task", "none"):
            raise ValueError(f"balance must be 'task' or 'none', got {balance!r}")
        distributed = dist.is_available() and dist.is_initialized()
        self.num_replicas = num_replicas or (dist.get_world_size() if distributed else 1)
        self.rank = rank if rank is not None else (dist.get_rank() if distributed else 0)
        if not 0 <= self.rank < self.num_replicas:
            raise ValueError(f"rank {self.rank} not in [0, {self.num_replicas})")
        self.weights = task_weights([r.task for r in records])
        self.total = num_samples or len(records)
        self.per_replica = math.ceil(self.total / self.num_replicas)
        self.seed, self.balance, self.epoch = seed, balance, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def epoch_indices(self) -> np.ndarray:
        """All ranks' indices for this epoch (before sharding), padded cyclically."""
        rng = np.random.default_rng([self.seed, self.epoch])
        n = len(self.weights)
        if self.balance == "task":
            idx = rng.choice(n, size=self.total, replace=True, p=self.weights)
        else:
            idx = np.concatenate([rng.permutation(n) for _ in range(math.ceil(self.total / n))])
            idx = idx[: self.total]
        padded = self.per_replica * self.num_replicas
        return np.resize(idx, padded)

    def __iter__(self) -> Iterator[int]:
        shard = self.epoch_indices()[self.rank :: self.num_replicas]
        return iter(shard.tolist())

    def __len__(self) -> int:
        return self.per_replica
