# Training (paper Sec. 3.3, 4.1): every model the paper trains, one job per experiment of
# demoe/train/experiments.py (the single source of the list). Needs common.smk (RESULTS,
# CONDA_ENV) and the manifests of data.smk (rule build_aioblur).
#
# The profile is config["train"] (config/config.yaml: small CPU profile; config/paper.yaml:
# the paper's recipe on GPUs). Each job gets its fully resolved config as `params`, so a
# changed value reruns only the experiments it reaches (and, through the model inputs,
# the experiments initialised from them); the bookkeeping settings (logging, checkpoint
# and validation intervals, workers: demoe.train.config.BOOKKEEPING_KEYS) go as command-line
# overrides through a param Snakemake does not hash (a function of `output`), so changing
# them reruns nothing. Checkpoints go to <results>/checkpoints/<name>/
# (not DAG outputs); an interrupted job continues from the latest one (--resume auto).
# The job's output goes to its log; the trainer's "demoe notice:" lines (a run restarting
# because its config or data changed) also reach the console.
import json
import re
import shlex

from demoe.tasks import AIO_BLUR, OTHER_TASK
from demoe.train.config import BOOKKEEPING_KEYS
from demoe.train.experiments import (
    EXPERIMENTS,
    manifests,
    model_dir,
    resolve_config,
    train_store,
)

TRAIN = config["train"]
# Experiments given fixed weights under `checkpoints:` (common.smk) are imported, not trained.
TRAIN_EXPERIMENTS = [name for name in EXPERIMENTS if name not in CHECKPOINTS]
# Fig. 8's LOLv2-real NAFNet: trained when its data is there (always in the synthetic default).
LOLV2_AVAILABLE = config["data"]["root"] is None or bool(config["data"]["roots"].get("lolv2_real"))
# Seed controls of Figs. 2/7/9: only for the datasets in analysis.similarity.seed_controls.
SEED_CONTROLS = config["analysis"]["similarity"].get("seed_controls", list(AIO_BLUR))


def in_default_dag(name):
    """Whether `rule all` trains an experiment (Fig. 8's and the control models may be off)."""
    exp = EXPERIMENTS[name]
    if set(exp.datasets) & set(OTHER_TASK):
        return LOLV2_AVAILABLE
    return exp.seed_offset == 0 or exp.datasets[0] in SEED_CONTROLS


TRAIN_MODELS = [
    f"{model_dir(RESULTS, name)}/model.safetensors"
    for name in EXPERIMENTS
    if in_default_dag(name)
]
TRAIN_MANIFESTS = manifests(RESULTS)


def train_init_model(wildcards):
    """The model folder an experiment starts from (stage 2, DeMoE*), if any."""
    source = EXPERIMENTS[wildcards.experiment].init_from
    if source is None:
        return []
    return [f"{model_dir(RESULTS, source)}/{f}" for f in ("model.safetensors", "config.json")]


def train_store_index(wildcards):
    """The decoded store the experiment's crops come from (train.settings.data.store)."""
    config_ = resolve_config(wildcards.experiment, TRAIN, RESULTS)
    return [f"{config_.data.store}/index.json"] if config_.data.store else []


def train_other_manifest(wildcards):
    """The manifest of an experiment trained outside AIO-Blur (Fig. 8: LOLv2-real)."""
    exp = EXPERIMENTS[wildcards.experiment]
    keys = {exp.manifest, exp.val_manifest} - {"train", "test"}
    return [TRAIN_MANIFESTS[k] for k in sorted(keys)]


def train_settings(wildcards):
    """The resolved config of an experiment, bookkeeping keys blanked (see train_bookkeeping)."""
    obj = resolve_config(wildcards.experiment, TRAIN, RESULTS).to_dict()
    for key in BOOKKEEPING_KEYS:
        section, name = key.split(".")
        obj[section][name] = None
    return json.dumps(obj)


def train_bookkeeping(wildcards, output):
    """``key=value`` overrides of the bookkeeping keys; taking ``output`` keeps this param
    out of what Snakemake compares to decide reruns."""
    obj = resolve_config(wildcards.experiment, TRAIN, RESULTS).to_dict()
    values = []
    for key in BOOKKEEPING_KEYS:
        section, name = key.split(".")
        values.append(f"{key}={json.dumps(obj[section][name])}")
    return shlex.join(values)


def train_launcher():
    n = TRAIN["nproc_per_node"]
    return "python" if n == 1 else f"torchrun --standalone --nproc-per-node {n}"


rule train_model:
    input:
        train=TRAIN_MANIFESTS["train"],
        test=TRAIN_MANIFESTS["test"],
        init=train_init_model,
        store=train_store_index,
        other=train_other_manifest,
    output:
        weights=f"{RESULTS}/models/{{experiment}}/model.safetensors",
        model_config=f"{RESULTS}/models/{{experiment}}/config.json",
        train_log=f"{RESULTS}/models/{{experiment}}/train_log.jsonl",
        resolved=f"{RESULTS}/models/{{experiment}}/resolved_config.yaml",
    wildcard_constraints:
        experiment="|".join(TRAIN_EXPERIMENTS),
    params:
        config=train_settings,
        bookkeeping=train_bookkeeping,
        launcher=train_launcher(),
        omp_threads=lambda wc, threads: max(1, threads // TRAIN["nproc_per_node"]),
    resources:
        gpu=TRAIN["resources"]["gpu"],
        nvidia_gpu=TRAIN["resources"]["gpu"],
        runtime=TRAIN["resources"]["runtime"],
        mem_mb=TRAIN["resources"]["mem_mb"],
    threads: TRAIN["resources"]["threads"]
    log:
        f"{RESULTS}/logs/train/{{experiment}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/train/{{experiment}}.tsv"
    conda:
        CONDA_ENV
    shell:
        "OMP_NUM_THREADS={params.omp_threads:q} {params.launcher} -m demoe.cli train {params.config:q} "
        "{params.bookkeeping} --resume auto 2>&1 | tee {log:q} | {{ grep --line-buffered '^demoe notice: ' >&2 || true; }}"


# Issue 13: the training images decoded once (demoe.data.store), so a training crop is a
# memory-mapped read instead of two whole-image decodes; same batches as the files.
rule prepare_train_store:
    input:
        lambda wc: TRAIN_MANIFESTS[wc.manifest],
    output:
        f"{RESULTS}/data/store/{{manifest}}/index.json",
    wildcard_constraints:
        manifest="|".join(TRAIN_MANIFESTS),
    params:
        out=lambda wc: train_store(RESULTS, wc.manifest),
    threads: 8  # decoding processes (Snakemake caps this at --cores)
    log:
        f"{RESULTS}/logs/data/prepare_train_store_{{manifest}}.log",
    conda:
        CONDA_ENV
    shell:
        "python -m demoe.cli data build-store --manifest {input:q} --out {params.out:q} "
        "--workers {threads} > {log:q} 2>&1"


if CHECKPOINTS:

    rule import_checkpoint:
        """Fixed weights (config `checkpoints:`) as the experiment's model folder; a changed
        file (newer) reruns this rule and only what reads the model."""
        input:
            checkpoint=lambda wc: CHECKPOINTS[wc.experiment],
        output:
            weights=f"{RESULTS}/models/{{experiment}}/model.safetensors",
            model_config=f"{RESULTS}/models/{{experiment}}/config.json",
        wildcard_constraints:
            experiment="|".join(map(re.escape, CHECKPOINTS)),
        params:
            out=lambda wc: model_dir(RESULTS, wc.experiment),
        log:
            f"{RESULTS}/logs/train/{{experiment}}_import.log",
        conda:
            CONDA_ENV
        shell:
            "python -m demoe.cli models import {input.checkpoint:q} --out {params.out:q} "
            "> {log:q} 2>&1"
