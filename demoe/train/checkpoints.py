"""Training checkpoints: everything needed to continue a run as if it never stopped.

A checkpoint (``<checkpoint_dir>/step_<step>.pt``) holds the model, optimiser, scheduler
and gradient-scaler states, the step and data position (epoch, batches consumed in it),
the random-number states of every rank, the metrics log so far and the training
identity of the config. It is written atomically and only the last ``keep`` stay;
checkpoints of a superseded identity are moved aside, never deleted.
Checkpoints hold tensors and plain Python values only, so they load with
``torch.load(weights_only=True)``.

Each checkpoint's SHA-256 is written, atomically and after it, to the sidecar
``step_<step>.pt.sha256`` (:mod:`demoe.io.checksum`) and verified before the checkpoint
is loaded: flipped bytes that ``torch.load`` would read without complaint are caught. A
checkpoint without a sidecar (a kill between the two writes, or an older run) is checked
with its zip members' CRC-32s instead. Resuming from a folder takes the newest intact
checkpoint; each damaged one passed over is named in a notice.
"""

from __future__ import annotations

import random
import re
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from demoe.errors import CheckpointError
from demoe.io.atomic import atomic_path
from demoe.io.checkpoint import check_zip_expansion, load_torch_file
from demoe.io.checksum import checksum_path, recorded_checksum, sha256_of, write_checksum
from demoe.paths import TENSORBOARD_DIR
from demoe.train.monitor import notice

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
    """Write ``payload`` atomically as ``step_<step>.pt``, then its checksum sidecar;
    delete all but the last ``keep`` (and their sidecars).

    The sidecar of an earlier file of the same name goes first, so a kill at any moment
    leaves each checkpoint with its own checksum or none, never another file's."""
    path = checkpoint_path(folder, step)
    checksum_path(path).unlink(missing_ok=True)
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)
        digest = sha256_of(tmp)
    write_checksum(path, digest)
    for old in list_checkpoints(folder)[:-keep]:
        checksum_path(old).unlink(missing_ok=True)
        old.unlink(missing_ok=True)
    return path


def supersede(folder: str | Path, identity: str) -> Path:
    """Move the checkpoints of ``folder`` (and its logs: JSONL, TensorBoard), made by a run of training
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
    found = list_checkpoints(folder)
    logs = [folder / "train_log.jsonl", folder / TENSORBOARD_DIR]
    for path in [*found, *map(checksum_path, found), *logs]:
        if path.exists():
            path.replace(target / path.name)
    return target


#: What resuming reads from a checkpoint's payload.
REQUIRED_KEYS: tuple[str, ...] = (
    "model",
    "optimizer",
    "scheduler",
    "scaler",
    "state",
    "rng",
    "identity",
)


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """The payload of the checkpoint ``path``, verified (:func:`checkpoint_damage`) and
    checked for :data:`REQUIRED_KEYS`. For a folder: its newest intact checkpoint, with
    a notice for each newer one passed over; CheckpointError when none is intact."""
    path = Path(path)
    if path.is_dir():
        return _newest_intact(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    return _load_verified(path)


def _newest_intact(folder: Path) -> dict[str, Any]:
    found = list_checkpoints(folder)
    if not found:
        raise CheckpointError(f"no checkpoint (step_*.pt) in {folder}")
    errors: list[str] = []
    for path in reversed(found):
        try:
            return _load_verified(path)
        except CheckpointError as exc:
            errors.append(str(exc))
            if len(errors) < len(found):
                notice(f"{exc}; falling back to the previous checkpoint")
    raise CheckpointError(
        f"no intact checkpoint in {folder} (delete the damaged ones to train from the "
        f"start): {'; '.join(errors)}"
    )


def _load_verified(path: Path) -> dict[str, Any]:
    if reason := checkpoint_damage(path):
        raise CheckpointError(f"damaged training checkpoint {path}: {reason}")
    payload = load_torch_file(path)
    if not isinstance(payload, dict):
        raise CheckpointError(
            f"not a training checkpoint: {path} holds a {type(payload).__name__}, not a dict"
        )
    if missing := [k for k in REQUIRED_KEYS if k not in payload]:
        raise CheckpointError(
            f"not a training checkpoint: {path} has no {', '.join(map(repr, missing))}"
        )
    if not isinstance(payload["state"], dict) or "step" not in payload["state"]:
        raise CheckpointError(f"not a training checkpoint: {path} records no step")
    return payload


def checkpoint_damage(path: str | Path) -> str | None:
    """Why the checkpoint file ``path`` cannot be trusted, or None when it is intact: its
    SHA-256 differs from its sidecar's; or, without a sidecar, it is empty, not a zip
    archive, or a member fails its CRC-32. Bomb-like archives are refused first
    (:func:`demoe.io.checkpoint.check_zip_expansion`), before any member is read."""
    path = Path(path)
    expected = recorded_checksum(path)
    if expected is not None:
        actual = sha256_of(path)
        if actual != expected:
            return (
                f"its sha256 ({actual[:16]}…) differs from the one recorded when it was "
                f"saved ({expected[:16] or 'empty'}…): flipped, truncated or overwritten bytes"
            )
        return None
    if path.stat().st_size == 0:
        return "it is empty (0 bytes)"
    check_zip_expansion(path)
    try:
        with zipfile.ZipFile(path) as archive:
            bad = archive.testzip()
    except Exception as exc:  # damaged archives fail with zlib, value and zip errors alike
        return f"it is not a readable torch.save archive ({exc})"
    return f"its member {bad} fails its CRC check (flipped bytes)" if bad else None


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
