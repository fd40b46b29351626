"""Manifests: one JSON record per blurry/sharp pair (JSONL).

Every experiment reads AIO-Blur and AIO-Blur-OOD (paper Sec. 4, Table 4)
through these files, never by walking dataset folders itself.
Paths are stored as the builder found them (relative paths are relative to the
working directory the DAG runs in).
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from demoe.errors import DataError
from demoe.io.atomic import write_jsonl
from demoe.tasks import TASKS

SPLITS: tuple[str, ...] = ("train", "test")
FIELDS: tuple[str, ...] = ("blurry", "sharp", "task", "dataset", "split")


@dataclass(frozen=True)
class Record:
    """One pair; ``sharp`` is None for unpaired images (Real-LOLBlur)."""

    blurry: str
    sharp: str | None
    task: str | None
    dataset: str
    split: str

    def __post_init__(self) -> None:
        if not self.blurry:
            raise DataError("record has an empty 'blurry' path")
        if self.task is not None and self.task not in TASKS:
            raise DataError(f"record {self.blurry}: unknown task {self.task!r}")
        if self.split not in SPLITS:
            raise DataError(f"record {self.blurry}: split must be one of {SPLITS}")
        if not self.dataset:
            raise DataError(f"record {self.blurry}: empty 'dataset'")

    @property
    def task_index(self) -> int:
        """Expert index ``TASKS.index(task)``; -1 when the task is unknown."""
        return TASKS.index(self.task) if self.task is not None else -1

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, obj: dict[str, Any]) -> Record:
        keys = set(obj)
        if keys != set(FIELDS):
            raise DataError(
                f"record must have exactly the fields {FIELDS}; "
                f"missing {sorted(set(FIELDS) - keys)}, extra {sorted(keys - set(FIELDS))}"
            )
        return cls(**{k: obj[k] for k in FIELDS})


def write_manifest(path: str | os.PathLike, records: Iterable[Record]) -> None:
    """Write records as JSONL atomically."""
    write_jsonl(path, [r.to_dict() for r in records])


def read_manifest(path: str | os.PathLike) -> list[Record]:
    """Read and validate a JSONL manifest; DataError names the file and line."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"manifest not found: {path}")
    records = []
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            records.append(Record.from_dict(json.loads(line)))
        except (json.JSONDecodeError, TypeError, DataError) as exc:
            raise DataError(f"{path}:{lineno}: bad manifest record: {exc}") from exc
    return records


def counts_by_dataset(records: Iterable[Record]) -> dict[str, int]:
    """Number of records per dataset, in first-seen order."""
    return dict(Counter(r.dataset for r in records))
