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
    """A dataset of AIO-Blur or AIO-Blur-OOD (paper Table 4, Sec. 4), or of another task."""

    name: str  # identifier used in manifests, configs and file names
    display: str  # name as printed in the paper's tables
    task: str | None  # blur task label; None for unpaired / unknown / not a blur
    ood: bool = False
    #: Not a deblurring set: trained on only for the other-task model of Fig. 8
    #: (App. A: a NAFNet for low-light enhancement on LOLv2-real); in no benchmark.
    other_task: bool = False


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
        DatasetInfo("lolv2_real", "LOLv2-real", None, other_task=True),
    )
}

AIO_BLUR: tuple[str, ...] = tuple(n for n, d in DATASETS.items() if not d.ood and not d.other_task)
AIO_BLUR_OOD: tuple[str, ...] = tuple(n for n, d in DATASETS.items() if d.ood)
#: The benchmark datasets (AIO-Blur and AIO-Blur-OOD): every dataset but the other-task ones.
BENCHMARK: tuple[str, ...] = (*AIO_BLUR, *AIO_BLUR_OOD)
#: Training-only datasets of other tasks (Fig. 8).
OTHER_TASK: tuple[str, ...] = tuple(n for n, d in DATASETS.items() if d.other_task)

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
