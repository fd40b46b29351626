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
#: Files a training job leaves beside the weights.
TRAIN_LOG_FILE = "train_log.jsonl"
RESOLVED_CONFIG_FILE = "resolved_config.yaml"


def _join(results: Root, *parts: str) -> str:
    return "/".join([str(results), *parts])


# --- data --------------------------------------------------------------------------------


def data(results: Root, *parts: str) -> str:
    """A data folder or file of the run: ``data("synthetic")``, ``data("synthetic_lolv2")``,
    ``data("manifests", "build_report.json")``."""
    return _join(results, "data", *parts)


def manifest(results: Root, name: str) -> str:
    """A manifest the data rules write (``aioblur_train``, ``aioblur_test``,
    ``aioblur_ood`` or an other-task dataset such as ``lolv2_real``)."""
    return data(results, "manifests", f"{name}.jsonl")


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
