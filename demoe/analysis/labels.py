"""Labels shared by the figures, and the model that plays each role in them.

Light on imports: the figure registry (:mod:`demoe.analysis.figures`) imports it to build the DAG.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from demoe.tasks import AIO_BLUR, DATASETS


def dataset_label(name: str) -> str:
    """Paper display name of a dataset, "(OOD)" appended for AIO-Blur-OOD sets."""
    info = DATASETS.get(name)
    if info is None:
        return name
    return f"{info.display} (OOD)" if info.ood else info.display


def task_label(task: str) -> str:
    """A task name for axis ticks ("synth global motion")."""
    return task.replace("_", " ")


def task_specific_model(dataset: str) -> str:
    """The task-specific NAFNet of a dataset (Figs. 5, 14): ``nafnet_<dataset>`` for
    AIO-Blur, for an OOD set the NAFNet of the AIO-Blur dataset with the same task."""
    if dataset in AIO_BLUR:
        return f"nafnet_{dataset}"
    task = DATASETS[dataset].task
    matches = [d for d in AIO_BLUR if DATASETS[d].task == task]
    if not matches:
        raise ValueError(f"no AIO-Blur dataset shares the task of {dataset!r} ({task})")
    return f"nafnet_{matches[0]}"


def model_label(name: str) -> str:
    """A per-dataset NAFNet by its dataset ("nafnet_dpdd" → "DPDD"), other models as named."""
    dataset = name.removeprefix("nafnet_")
    return DATASETS[dataset].display if dataset != name and dataset in DATASETS else name


def model_name(path: str | os.PathLike) -> str:
    """Experiment name of a model file ``results/models/<name>/model.safetensors``."""
    path = Path(path)
    return path.parent.name if path.suffix == ".safetensors" else path.name


def weights_source(path: str | os.PathLike) -> str | None:
    """The checkpoint file name a model folder was imported from (config ``checkpoints:``,
    ``demoe models import``), or None for a model the DAG trained."""
    path = Path(path)
    config = (path if path.is_dir() else path.parent) / "config.json"
    try:
        metadata = json.loads(config.read_text(encoding="utf-8")).get("metadata") or {}
    except (OSError, ValueError, AttributeError):
        return None
    source = metadata.get("source")
    return str(source) if source else None


def with_weights_source(title: str, path: str | os.PathLike, role: str = "DeMoE") -> str:
    """``title`` naming the checkpoint file of fixed weights, when ``path`` has one."""
    return titled_with_source(title, weights_source(path), role)


def titled_with_source(title: str, source: str | None, role: str = "DeMoE") -> str:
    """``title`` with "(<role> weights: <source>)" under it when ``source`` is given."""
    return title if not source else f"{title}\n({role} weights: {source})"
