"""The results layout: where every artifact of a run lives, in one place.

Every path under a run's results folder (the config's ``results``) is spelt here and
only here: the experiment catalogue, the evaluation plan and jobs, the claims, the
Snakemake rules and the notebooks derive theirs from these functions. Each takes the
results folder first; a name may be a Snakemake wildcard (``"{experiment}"``), so the
rules use the same functions for their patterns.

Strings, not :class:`~pathlib.Path`: the rules and the command lines they build take
the paths as written (a relative ``results`` stays relative).
"""

from __future__ import annotations

from os import PathLike

Root = str | PathLike[str]

#: Files of a model folder (the format of :mod:`demoe.models.checkpoint`).
WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "config.json"
#: The model card of a model folder (Hugging Face layout, :mod:`demoe.models.card`).
CARD_FILE = "README.md"
#: Key of config.json holding the SHA-256 of each weight file (a leading "_": not a
#: constructor argument, skipped when the config builds the model).
SHA256_KEY = "_sha256"
#: Files a training job leaves beside the weights.
TRAIN_LOG_FILE = "train_log.jsonl"
RESOLVED_CONFIG_FILE = "resolved_config.yaml"
#: A training job's TensorBoard event files: this folder of its checkpoint folder, beside
#: the JSONL log there (``make tensorboard`` opens ``checkpoints/`` of a results folder).
TENSORBOARD_DIR = "tensorboard"


def _join(results: Root, *parts: str) -> str:
    return "/".join([str(results), *parts])


# --- data --------------------------------------------------------------------------------


def data(results: Root, *parts: str) -> str:
    """A data folder or file of the run: ``data("synthetic")``, ``data("synthetic_lolv2")``,
    ``data("store", "train")``."""
    return _join(results, "data", *parts)


#: Files the AIO-Blur build (:mod:`demoe.data.build`, rule ``build_aioblur``) writes into
#: ``data/manifests``: one manifest per split, its report and the MSE of every pair.
AIO_MANIFEST_FILES: dict[str, str] = {
    "train": "aioblur_train.jsonl",
    "test": "aioblur_test.jsonl",
    "ood": "aioblur_ood.jsonl",
}
BUILD_REPORT_FILE = "build_report.json"
MSE_PAIRS_FILE = "mse_pairs.csv"


def aio_manifest(results: Root, split: str) -> str:
    """The AIO-Blur manifest of ``split`` (``train``, ``test``; ``ood``: AIO-Blur-OOD)."""
    return data(results, "manifests", AIO_MANIFEST_FILES[split])


def manifest(results: Root, name: str) -> str:
    """The manifest of an other-task dataset such as ``lolv2_real`` (rule ``build_lolv2``)."""
    return data(results, "manifests", f"{name}.jsonl")


def build_report(results: Root) -> str:
    """The AIO-Blur build's report: pairs found and kept per dataset (Table 4, Fig. 10)."""
    return data(results, "manifests", BUILD_REPORT_FILE)


def mse_pairs(results: Root) -> str:
    """The blurry/sharp MSE of every pair of an MSE-subsampled dataset (Fig. 10)."""
    return data(results, "manifests", MSE_PAIRS_FILE)


def train_store(results: Root, manifest_key: str = "train") -> str:
    """The decoded training images of a manifest (rule ``prepare_train_store``)."""
    return data(results, "store", manifest_key)


def niqe_params(results: Root) -> str:
    """The NIQE pristine model fitted on the run's sharp training images."""
    return data(results, "niqe_params.npz")


# --- models and evaluations ----------------------------------------------------------------


def model_dir(results: Root, experiment: str) -> str:
    """The model folder of a trained (or imported) experiment."""
    return _join(results, "models", experiment)


def model_file(results: Root, experiment: str, file: str = WEIGHTS_FILE) -> str:
    """A file of an experiment's model folder (the weights unless ``file`` says)."""
    return f"{model_dir(results, experiment)}/{file}"


def checkpoint_dir(results: Root, experiment: str) -> str:
    """The training checkpoints of an experiment (resumable state; not a DAG output)."""
    return _join(results, "checkpoints", experiment)


def eval_file(results: Root, experiment: str, dataset: str, run: str, suffix: str) -> str:
    """One evaluation's per-image CSV (``.csv``), summary (``.json``) or restored images
    (``_images``): ``eval/{experiment}/{dataset}/{run}{suffix}``."""
    return _join(results, "eval", experiment, dataset, f"{run}{suffix}")


# --- tables, figures, report ----------------------------------------------------------------


def table(results: Root, name: str, ext: str = "csv") -> str:
    """A results table (``csv``, ``md`` or ``tex``), e.g. ``table1_aio_deblurring``,
    ``cost`` or ``claims``."""
    return _join(results, "tables", f"{name}.{ext}")


def cost_repeats(results: Root) -> str:
    """The cost table's timing repeats (one row per timed forward), beside ``cost.csv``."""
    return table(results, "cost_runtime_repeats")


def figure(results: Root, name: str, ext: str = "png") -> str:
    """A figure file (``pdf``, ``png``, or ``csv`` for the scores behind it)."""
    return _join(results, "figures", f"{name}.{ext}")


def report_table(results: Root, name: str) -> str:
    """A table's HTML page for ``snakemake --report``."""
    return _join(results, "report", "tables", f"{name}.html")


# --- logs and benchmarks --------------------------------------------------------------------


def log(results: Root, group: str, name: str) -> str:
    """A rule's log: ``logs/{group}/{name}.log``."""
    return _join(results, "logs", group, f"{name}.log")


def benchmark(results: Root, group: str, name: str) -> str:
    """A rule's Snakemake benchmark file: ``benchmarks/{group}/{name}.tsv``."""
    return _join(results, "benchmarks", group, f"{name}.tsv")
