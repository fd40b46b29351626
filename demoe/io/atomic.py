"""Atomic file writes: a reader sees the old file or the new one, never half of one.

Every artifact the project writes (checkpoints, manifests, tables, figures)
goes through :func:`atomic_path`: write into a hidden temporary folder beside the
target (``.<name>.<random>.tmp/<name>``), fsync, rename over the target.

A write killed half-way (SIGKILL, OOM) leaves only that hidden ``*.tmp`` folder:
no glob of a real output (``*.safetensors``, ``step_*.pt``, ``*.png``) matches it,
loaders skip dot-entries, and :func:`sweep_stale_temps` removes it when the job
that owns the folder starts again.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

TEMP_SUFFIX = ".tmp"
#: ``.<target name>.<8 random characters of mkdtemp>.tmp``, and the temporary files of
#: earlier versions, ``.<target name>.<8 random characters>.<target suffix>``.
_TEMP_NAME = re.compile(r"^\..+\.[A-Za-z0-9_]{8}\.tmp$")
_LEGACY_TEMP_NAME = re.compile(r"^\..+(\.[^./]+)\.[A-Za-z0-9_]{8}\1$")


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path to write; on success it replaces ``path``.

    The temporary file has ``path``'s own name (plus ``suffix`` when the name lacks
    it, for ``np.savez``), so libraries that pick a format from the file name
    (matplotlib, PIL) write the right one; it lives in a hidden ``.<name>.*.tmp``
    folder beside ``path``, so nothing that globs for outputs sees it. It is created
    by the writer, so it gets the usual umask permissions. On an exception the
    temporary folder is removed and ``path`` is untouched.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(
        tempfile.mkdtemp(prefix=f".{target.name}.", suffix=TEMP_SUFFIX, dir=target.parent)
    )
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
    return bool(_TEMP_NAME.match(name) or _LEGACY_TEMP_NAME.match(name))


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
