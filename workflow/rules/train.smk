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
import shlex

from demoe.train.config import BOOKKEEPING_KEYS
from demoe.train.experiments import EXPERIMENTS, manifests, model_dir, resolve_config

TRAIN = config["train"]
TRAIN_EXPERIMENTS = list(EXPERIMENTS)
TRAIN_MODELS = [f"{model_dir(RESULTS, name)}/model.safetensors" for name in TRAIN_EXPERIMENTS]
TRAIN_MANIFESTS = manifests(RESULTS)


def train_init_model(wildcards):
    """The model folder an experiment starts from (stage 2, DeMoE*), if any."""
    source = EXPERIMENTS[wildcards.experiment].init_from
    if source is None:
        return []
    return [f"{model_dir(RESULTS, source)}/{f}" for f in ("model.safetensors", "config.json")]


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
