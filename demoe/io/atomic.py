"""Atomic file writes: a reader sees the old file or the new one, never half of one.

Every artifact the project writes (checkpoints, manifests, tables, figures)
goes through :func:`atomic_path`: write into a hidden temporary folder beside the
target (``.demoe-<random>.tmp/<name>``), fsync, rename over the target. The folder's
name is short and fixed in form, so it is never taken for data and any legal file name
(up to 255 bytes) fits inside it.

A write killed half-way (SIGKILL, OOM) leaves only that hidden ``*.tmp`` folder:
no glob of a real output (``*.safetensors``, ``step_*.pt``, ``*.png``) matches it,
loaders skip dot-entries, and :func:`sweep_stale_temps` removes it when the job
that owns the folder starts again.

:func:`take_lock` and :func:`release_lock`: a lock file that one writer of a folder holds
for its run (the workflow's results folder).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from demoe.errors import DataError

TEMP_PREFIX = ".demoe-"
TEMP_SUFFIX = ".tmp"
#: ``.demoe-<8 random characters of mkdtemp>.tmp``; earlier versions' staging folders
#: ``.<target name>.<8 random characters>.tmp`` and temporary files
#: ``.<target name>.<8 random characters>.<target suffix>``.
_TEMP_NAME = re.compile(r"^\.demoe-[A-Za-z0-9_]{8}\.tmp$")
_EARLIER_TEMP_NAME = re.compile(r"^\..+\.[A-Za-z0-9_]{8}\.tmp$")
_LEGACY_TEMP_NAME = re.compile(r"^\..+(\.[^./]+)\.[A-Za-z0-9_]{8}\1$")


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path to write; on success it replaces ``path``.

    The temporary file has ``path``'s own name (plus ``suffix`` when the name lacks
    it, for ``np.savez``), so libraries that pick a format from the file name
    (matplotlib, PIL) write the right one; it lives in a hidden ``.demoe-<random>.tmp``
    folder beside ``path``, so nothing that globs for outputs sees it. It is created
    by the writer, so it gets the usual umask permissions. On an exception the
    temporary folder is removed and ``path`` is untouched.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=TEMP_PREFIX, suffix=TEMP_SUFFIX, dir=target.parent))
    name = target.name if suffix is None or target.name.endswith(suffix) else target.name + suffix
    tmp = staging / name
    try:
        yield tmp
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def is_temporary(path: str | os.PathLike) -> bool:
    """True for the staging folders :func:`atomic_path` creates (or leaves when killed),
    and for the temporary files earlier versions left."""
    name = Path(path).name
    return any(p.match(name) for p in (_TEMP_NAME, _EARLIER_TEMP_NAME, _LEGACY_TEMP_NAME))


def sweep_stale_temps(folder: str | os.PathLike) -> list[Path]:
    """Remove what killed atomic writes left directly in ``folder``; returns what went.

    Call it only where no other process is writing at the time (a job's own output or
    checkpoint folder when the job starts): a live write's staging folder looks the same.
    """
    folder = Path(folder)
    if not folder.is_dir():
        return []
    stale = sorted(p for p in folder.iterdir() if is_temporary(p))
    for path in stale:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
    return stale


def write_text(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` to ``path`` atomically (UTF-8)."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json(path: str | os.PathLike, obj: Any) -> None:
    """Write ``obj`` as indented JSON atomically."""
    write_text(path, json.dumps(obj, indent=2, sort_keys=False) + "\n")


def write_jsonl(path: str | os.PathLike, records: list[dict[str, Any]]) -> None:
    """Write one JSON object per line atomically."""
    write_text(path, "".join(json.dumps(r) + "\n" for r in records))


def lock_owner() -> str:
    """This process as a lock file records it: ``<pid> <host> <working directory>``."""
    return f"{os.getpid()} {socket.gethostname()} {os.getcwd()}"


def take_lock(path: str | os.PathLike, owner: str, what: str) -> None:
    """Create the lock file ``path`` holding ``owner`` (:func:`lock_owner`), exclusively.

    A lock held by a live process, or by any process of another host (whose liveness
    cannot be seen from here), is a DataError naming ``what`` is locked, the holder and
    the lock file to remove if that holder is gone. A lock left by a dead process of
    this host (stale: killed before it could release it) is taken over.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    for _ in range(2):
        try:
            with open(path, "x", encoding="utf-8") as fh:
                fh.write(owner + "\n")
            return
        except FileExistsError:
            holder = path.read_text(encoding="utf-8", errors="replace").strip()
            if not _is_stale(holder):
                break
            path.unlink(missing_ok=True)
    raise DataError(
        f"{what} is in use by another run (pid, host, working directory: {holder}); "
        f"if that run is over, remove the stale lock {path}"
    )


def release_lock(path: str | os.PathLike, owner: str) -> None:
    """Remove the lock file ``path`` if ``owner`` holds it (never another run's lock)."""
    path = Path(path)
    with contextlib.suppress(FileNotFoundError):
        if path.read_text(encoding="utf-8", errors="replace").strip() == owner:
            path.unlink()


def _is_stale(holder: str) -> bool:
    """The lock's process is dead on this host."""
    pid, _, rest = holder.partition(" ")
    if not pid.isdigit() or rest.split(" ")[0] != socket.gethostname():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, another user's
        return False
    return False
