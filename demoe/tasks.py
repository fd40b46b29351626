"""Single source of truth for blur tasks, datasets and their names.

The task order is the expert order of the published DeMoE checkpoint
(paper Sec. 3.2; ``TASKS`` in the authors' code): expert ``i`` was trained on
the dataset whose task is ``TASKS[i]``.
"""

from __future__ import annotations

from dataclasses import dataclass

TASKS: tuple[str, ...] = (
    "defocus",
    "global_motion",
    "local_motion",
    "synth_global_motion",
    "low_light",
)


@dataclass(frozen=True)
class DatasetInfo:
    """A dataset of AIO-Blur or AIO-Blur-OOD (paper Table 4, Sec. 4)."""

    name: str  # identifier used in manifests, configs and file names
    display: str  # name as printed in the paper's tables
    task: str | None  # blur task label; None for unpaired / unknown
    ood: bool = False


DATASETS: dict[str, DatasetInfo] = {
    d.name: d
    for d in (
        DatasetInfo("dpdd", "DPDD", "defocus"),
        DatasetInfo("realblur_j", "RealBlur-J", "global_motion"),
        DatasetInfo("reloblur", "ReLoBlur", "local_motion"),
        DatasetInfo("gopro", "GoPro", "synth_global_motion"),
        DatasetInfo("lolblur", "LOLBlur", "low_light"),
        DatasetInfo("realdof", "RealDOF", "defocus", ood=True),
        DatasetInfo("rsblur", "RSBlur", "global_motion", ood=True),
        DatasetInfo("real_lolblur", "Real-LOLBlur", "low_light", ood=True),
    )
}

AIO_BLUR: tuple[str, ...] = tuple(n for n, d in DATASETS.items() if not d.ood)
AIO_BLUR_OOD: tuple[str, ...] = tuple(n for n, d in DATASETS.items() if d.ood)

#: Short aliases accepted wherever a task name is (``model(x, task="gopro")``).
TASK_ALIASES: dict[str, str] = {
    "dpdd": "defocus",
    "realblur": "global_motion",
    "reloblur": "local_motion",
    "gopro": "synth_global_motion",
    "lolblur": "low_light",
}


def resolve_task(name: str) -> str:
    """Return the canonical task for a task name or alias; ValueError otherwise."""
    key = name.strip().lower()
    if key in TASKS:
        return key
    if key in TASK_ALIASES:
        return TASK_ALIASES[key]
    valid = ", ".join((*TASKS, *TASK_ALIASES))
    raise ValueError(f"unknown task {name!r}; valid tasks: auto, {valid}")


def task_index(name: str) -> int:
    """Expert index of a task name or alias."""
    return TASKS.index(resolve_task(name))
