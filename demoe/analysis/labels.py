"""Labels shared by the figures, and the model that plays each role in them.

Light on imports: the figure registry (:mod:`demoe.analysis.figures`) imports it to build the DAG.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from demoe import paths
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


#: Hex digits of a SHA-256 shown in labels (48 bits: two different files of one name
#: collide with odds of about 1 in 3e14); the whole hash is in the model card.
SHORT_HASH = 12


def _model_config(path: str | os.PathLike) -> dict:
    """The config.json of a model folder (``path``: the folder or a file in it); {} if none."""
    path = Path(path)
    config = (path if path.is_dir() else path.parent) / paths.CONFIG_FILE
    try:
        loaded = json.loads(config.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return loaded if isinstance(loaded, dict) else {}


def short_sha256(digest: str) -> str:
    """The first :data:`SHORT_HASH` hex digits of a SHA-256."""
    return digest[:SHORT_HASH]


def weights_source(path: str | os.PathLike) -> str | None:
    """The checkpoint file a model folder was imported from (config ``checkpoints:``,
    ``demoe models import``) with the start of its SHA-256 ("DeMoE.pth, sha256
    3f2a9c1b7d0e"), or None for a model the DAG trained."""
    metadata = _model_config(path).get("metadata") or {}
    source = metadata.get("source") if isinstance(metadata, dict) else None
    if not source:
        return None
    digest = metadata.get("source_sha256")
    return f"{source}, sha256 {short_sha256(digest)}" if digest else str(source)


def weights_sha256(path: str | os.PathLike) -> str | None:
    """The SHA-256 of a model folder's weights as saved (imported: of the file it came
    from), or None where the folder records none."""
    config = _model_config(path)
    metadata = config.get("metadata") or {}
    if isinstance(metadata, dict) and metadata.get("source_sha256"):
        return str(metadata["source_sha256"])
    hashes = config.get(paths.SHA256_KEY) or {}
    return str(next(iter(hashes.values()))) if isinstance(hashes, dict) and hashes else None


def weights_note(models: dict[str, str | os.PathLike]) -> str | None:
    """One line naming the weights behind ``models`` (label → model folder): each with
    the start of its SHA-256 (and the file given weights came from), or None if no
    folder records one."""
    parts = []
    for label, folder in models.items():
        digest = weights_sha256(folder)
        if digest:
            source = weights_source(folder)
            parts.append(f"{label} {source}" if source else f"{label} {short_sha256(digest)}")
    if not parts:
        return None
    return (
        f"Weights (sha256, first {SHORT_HASH} hex digits; the whole hash in each model "
        "folder's README.md): " + "; ".join(parts) + "."
    )


def with_weights_source(title: str, path: str | os.PathLike | None, role: str = "DeMoE") -> str:
    """``title`` with "(<role> weights: <file>, sha256 <start>)" under it when the model
    folder at ``path`` holds given weights (:func:`weights_source`)."""
    source = weights_source(path) if path else None
    return title if not source else f"{title}\n({role} weights: {source})"
