"""Model cards: the ``README.md`` of a model folder, in the Hugging Face layout.

YAML front matter (``library_name``, ``tags`` with the paper's ``arxiv:`` id,
``datasets``, ``license``) followed by the folder's facts: architecture and size, the
recipe (the metadata given to :func:`demoe.models.checkpoint.save_model`: experiment,
stage, steps, …), the data, the scores the metadata holds (with their intervals where
it has them) and the SHA-256 of each weight file, so a copy of the folder can be checked
against its card.

Licence: weights we train are ours to license; they take the licence of this code
(MIT, ``pyproject.toml``). Weights imported from a published file keep their
publisher's licence, which the card names as ``other``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from demoe.errors import CheckpointError
from demoe.io.atomic import write_text
from demoe.io.checkpoint import weight_files
from demoe.io.checksum import sha256_of
from demoe.paths import CARD_FILE, CONFIG_FILE
from demoe.tasks import DATASETS

ARXIV_ID = "2508.06228"
PAPER = "Towards Unified Image Deblurring using a Mixture-of-Experts Decoder"
#: The licence of our code, and so of the weights we train (``pyproject.toml``).
LICENSE = "mit"
LIBRARY = "demoe"
BASE_TAGS: tuple[str, ...] = ("image-deblurring", "image-restoration", "pytorch")
#: Architectures whose decoder is a mixture of experts (paper Sec. 3).
MOE_ARCHITECTURES: frozenset[str] = frozenset({"demoe"})
#: Metadata keys shown as the recipe, in this order (any other key follows them).
RECIPE_KEYS: tuple[str, ...] = (
    "experiment",
    "description",
    "stage",
    "init_from",
    "steps",
    "epochs",
    "world_size",
    "config_identity",
    "torch",
    "source",
    "source_path",
)
#: Metadata keys with sections of their own.
_OWN_SECTION = frozenset({"datasets", "scores", "final_validation"})


def card_metadata(config: Mapping[str, Any], metadata: Mapping[str, Any]) -> dict[str, Any]:
    """The YAML front matter of a card (Hugging Face model card metadata)."""
    tags = [*BASE_TAGS]
    if config.get("architecture") in MOE_ARCHITECTURES:
        tags.append("mixture-of-experts")
    tags.append(f"arxiv:{ARXIV_ID}")
    card: dict[str, Any] = {"library_name": LIBRARY, "tags": tags}
    if "source" in metadata:
        card.update(license="other", license_name="publisher-licence")
    else:
        card["license"] = LICENSE
    if datasets := list(metadata.get("datasets") or []):
        card["datasets"] = [str(d) for d in datasets]
    return card


def model_card(
    folder: str | Path,
    config: Mapping[str, Any],
    metadata: Mapping[str, Any],
    parameters: int,
) -> str:
    """The text of the model card of ``folder`` (its weight files must be written)."""
    folder = Path(folder)
    front = yaml.safe_dump(card_metadata(config, metadata), sort_keys=False, allow_unicode=True)
    architecture = str(config.get("architecture", "unknown"))
    title = metadata.get("experiment") or folder.name
    lines = [
        f"---\n{front}---",
        f"# {title}",
        "",
        f"A `{architecture}` image-deblurring model, written by the `demoe` toolkit that "
        f"reproduces *{PAPER}* ([arXiv:{ARXIV_ID}](https://arxiv.org/abs/{ARXIV_ID})).",
        "",
        "## Architecture",
        "",
        f"- architecture: `{architecture}`",
        f"- parameters: {parameters:,}",
        *(f"- {k}: `{_show(v)}`" for k, v in config.items() if k != "architecture"),
        "",
        "## Recipe",
        "",
        *_recipe(metadata),
        "",
        "## Data",
        "",
        *_data(metadata),
        "",
        "## Scores",
        "",
        *_scores(metadata),
        "",
        "## Licence",
        "",
        _licence(metadata),
        "",
        "## Files",
        "",
        "| file | sha256 |",
        "| --- | --- |",
        *(f"| `{p.name}` | `{sha256_of(p)}` |" for p in weight_files(folder)),
        "",
    ]
    return "\n".join(lines)


def write_model_card(
    folder: str | Path,
    config: Mapping[str, Any],
    metadata: Mapping[str, Any],
    parameters: int,
) -> Path:
    """Write ``folder/README.md`` (:func:`model_card`) atomically and return its path."""
    path = Path(folder) / CARD_FILE
    write_text(path, model_card(folder, config, metadata, parameters))
    return path


def rewrite_model_card(folder: str | Path, scores: Mapping[str, Any], parameters: int) -> Path:
    """Write the card of a saved model folder again, with ``scores`` (``{name: {"value",
    "low", "high", "source"}}``, e.g. the evaluations of this run) beside those its
    metadata holds; CheckpointError when the folder's config.json is unreadable."""
    path = Path(folder) / CONFIG_FILE
    try:
        saved = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise CheckpointError(f"unreadable model config {path}: {err}") from err
    if not isinstance(saved, dict):
        raise CheckpointError(f"model config {path} is not a JSON object")
    metadata = dict(saved.get("metadata") or {})
    metadata["scores"] = {**(metadata.get("scores") or {}), **scores}
    config = {k: v for k, v in saved.items() if k != "metadata" and not k.startswith("_")}
    return write_model_card(folder, config, metadata, parameters)


def _recipe(metadata: Mapping[str, Any]) -> list[str]:
    keys = [k for k in RECIPE_KEYS if k in metadata]
    keys += [k for k in metadata if k not in RECIPE_KEYS and k not in _OWN_SECTION]
    shown = [f"- {k}: `{_show(metadata[k])}`" for k in keys if metadata[k] is not None]
    return shown or ["No training metadata was given with these weights."]


def _data(metadata: Mapping[str, Any]) -> list[str]:
    datasets = list(metadata.get("datasets") or [])
    if not datasets:
        return ["The metadata names no training data."]
    return [f"- {_dataset(str(name))}" for name in datasets]


def _dataset(name: str) -> str:
    info = DATASETS.get(name)
    if info is None:
        return f"`{name}`"
    task = f", task {info.task}" if info.task else ""
    return f"{info.display} (`{name}`{task})"


def _scores(metadata: Mapping[str, Any]) -> list[str]:
    """A table of the metadata's ``scores`` (``{name: value}`` or ``{name: {"value",
    "low", "high"}}``, an interval) and of its last validation (``final_validation``:
    PSNR per task, mean PSNR, router accuracy)."""
    rows = [_score_row(name, score) for name, score in (metadata.get("scores") or {}).items()]
    val = metadata.get("final_validation") or {}
    where = f"validation at step {val['step']}" if "step" in val else "validation"
    rows += [
        f"| PSNR {task} (dB) | {v:.2f} | | {where} |" for task, v in val.get("psnr", {}).items()
    ]
    if "psnr_mean" in val:
        rows.append(f"| PSNR mean (dB) | {val['psnr_mean']:.2f} | | {where} |")
    if "router_accuracy" in val:
        rows.append(f"| router accuracy | {val['router_accuracy']:.3f} | | {where} |")
    if not rows:
        return ["No scores were recorded with these weights."]
    return ["| score | value | interval | from |", "| --- | --- | --- | --- |", *rows]


def _score_row(name: str, score: Any) -> str:
    if not isinstance(score, Mapping):
        return f"| {name} | {_show(score)} | | |"
    interval = ""
    if score.get("low") is not None and score.get("high") is not None:
        interval = f"[{_show(score['low'])}, {_show(score['high'])}]"
    return f"| {name} | {_show(score.get('value'))} | {interval} | {score.get('source', '')} |"


def _licence(metadata: Mapping[str, Any]) -> str:
    if "source" in metadata:
        return (
            f"Imported from `{metadata['source']}`: these weights keep the licence of their "
            "publisher, which this card cannot state; check it before redistributing them."
        )
    return (
        "MIT. These weights were trained with the `demoe` toolkit, whose licence (MIT, "
        "`pyproject.toml`) we chose for them too; the training data keep their own licences."
    )


def _show(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, str):
        return value
    return json.dumps(value, default=str)
