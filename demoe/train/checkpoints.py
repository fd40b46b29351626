"""Training checkpoints: everything needed to continue a run as if it never stopped.

A checkpoint (``<checkpoint_dir>/step_<step>.pt``) holds the model, optimiser, scheduler
and gradient-scaler states, the step and data position (epoch, batches consumed in it),
the random-number states of every rank, the metrics log so far and the training
identity of the config. It is written atomically and only the last ``keep`` stay;
checkpoints of a superseded identity are moved aside, never deleted.
Checkpoints hold tensors and plain Python values only, so they load with
``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import random
import re
from pathlib import Path
from typing import Any

import numpy as np
import torch

from demoe.errors import CheckpointError
from demoe.io.atomic import atomic_path

_NAME = re.compile(r"^step_(\d+)\.pt$")


def checkpoint_path(folder: str | Path, step: int) -> Path:
    return Path(folder) / f"step_{step:08d}.pt"


def list_checkpoints(folder: str | Path) -> list[Path]:
    """Checkpoints in ``folder``, oldest step first."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in folder.iterdir() if (m := _NAME.match(p.name))]
    return [p for _, p in sorted(found)]


def latest_checkpoint(folder: str | Path) -> Path | None:
    found = list_checkpoints(folder)
    return found[-1] if found else None


def save_checkpoint(folder: str | Path, step: int, payload: dict[str, Any], keep: int) -> Path:
    """Write ``payload`` atomically as ``step_<step>.pt``; delete all but the last ``keep``."""
    path = checkpoint_path(folder, step)
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)
    for old in list_checkpoints(folder)[:-keep]:
        old.unlink(missing_ok=True)
    return path


def supersede(folder: str | Path, identity: str) -> Path:
    """Move the checkpoints of ``folder`` (and its log), made by a run of training
    identity ``identity``, into ``folder/superseded/<identity>/`` and return that folder.

    Nothing is ever deleted or overwritten: a second supersession of the same identity
    goes to ``<identity>.2``, ``<identity>.3``, …
    """
    folder = Path(folder)
    base = folder / "superseded"
    target, n = base / identity, 1
    while target.exists():
        n += 1
        target = base / f"{identity}.{n}"
    target.mkdir(parents=True)
    for path in [*list_checkpoints(folder), folder / "train_log.jsonl"]:
        if path.exists():
            path.replace(target / path.name)
    return target


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if path.is_dir():
        found = latest_checkpoint(path)
        if found is None:
            raise CheckpointError(f"no checkpoint (step_*.pt) in {path}")
        path = found
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several unrelated types for bad files
        raise CheckpointError(f"unreadable training checkpoint {path}: {exc}") from exc


def rng_state(device: torch.device) -> dict[str, Any]:
    """This process's random-number states (torch, CUDA device, numpy, python)."""
    np_state = np.random.get_state()  # noqa: NPY002 (the legacy global stream, for code using it)
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": [np_state[0], np_state[1].tolist(), *np_state[2:]],
        "python": random.getstate(),
    }
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def set_rng_state(state: dict[str, Any], device: torch.device) -> None:
    torch.set_rng_state(state["torch"])
    name, keys, *rest = state["numpy"]
    np.random.set_state((name, np.asarray(keys, dtype=np.uint32), *rest))  # noqa: NPY002
    random.setstate(_as_tuple(state["python"]))
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"], device)


def _as_tuple(obj: Any) -> Any:
    if isinstance(obj, list | tuple):
        return tuple(_as_tuple(v) for v in obj)
    return obj
