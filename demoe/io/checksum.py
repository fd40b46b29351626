"""SHA-256 checksums of files, and ``<file>.sha256`` sidecars that travel with them.

A sidecar holds one ``sha256sum`` line (``<hex digest>  <file name>``), so
``sha256sum -c step_00000100.pt.sha256`` checks it by hand. It is written atomically
after the file it describes: a reader finds either no sidecar (the file is not
verifiable) or a complete one.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from demoe.io.atomic import write_text

CHECKSUM_SUFFIX = ".sha256"
_CHUNK = 1 << 20


def sha256_of(path: str | os.PathLike) -> str:
    """Hex SHA-256 of the file at ``path``, read in 1 MiB chunks (any size, bounded memory)."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def checksum_path(path: str | os.PathLike) -> Path:
    """The sidecar of ``path``: ``<path>.sha256``."""
    path = Path(path)
    return path.with_name(path.name + CHECKSUM_SUFFIX)


def write_checksum(path: str | os.PathLike, digest: str | None = None) -> Path:
    """Write the sidecar of ``path`` atomically (``digest``, else computed) and return it."""
    path = Path(path)
    sidecar = checksum_path(path)
    write_text(sidecar, f"{digest or sha256_of(path)}  {path.name}\n")
    return sidecar


def recorded_checksum(path: str | os.PathLike) -> str | None:
    """The digest the sidecar of ``path`` records; None when there is no sidecar."""
    sidecar = checksum_path(path)
    try:
        text = sidecar.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return None
    return text.split(maxsplit=1)[0] if text.strip() else ""
