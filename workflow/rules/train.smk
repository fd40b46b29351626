# Training (paper Sec. 3.3, 4.1): every model the paper trains, one job per experiment of
# demoe/train/experiments.py (the single source of the list). Needs common.smk (RESULTS,
# CONDA_ENV) and the manifests of data.smk (rule build_aioblur).
#
# The profile is config["train"] (config/config.yaml: small CPU profile; config/paper.yaml:
# the paper's recipe on GPUs). Each job gets its fully resolved config as `params`, so a
# changed value reruns only the experiments it reaches (and, through the model inputs,
# the experiments initialised from them). Checkpoints go to <results>/checkpoints/<name>/
# (not DAG outputs); an interrupted job continues from the latest one (--resume auto).
import json
import re

from demoe.train.experiments import EXPERIMENTS, manifests, model_dir, resolve_config

TRAIN = config["train"]
# Experiments given fixed weights under `checkpoints:` (common.smk) are imported, not trained.
TRAIN_EXPERIMENTS = [name for name in EXPERIMENTS if name not in CHECKPOINTS]
TRAIN_MODELS = [f"{model_dir(RESULTS, name)}/model.safetensors" for name in EXPERIMENTS]
TRAIN_MANIFESTS = manifests(RESULTS)


def train_init_model(wildcards):
    """The model folder an experiment starts from (stage 2, DeMoE*), if any."""
    source = EXPERIMENTS[wildcards.experiment].init_from
    if source is None:
        return []
    return [f"{model_dir(RESULTS, source)}/{f}" for f in ("model.safetensors", "config.json")]


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
        config=lambda wc: json.dumps(resolve_config(wc.experiment, TRAIN, RESULTS).to_dict()),
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
        "OMP_NUM_THREADS={params.omp_threads} {params.launcher} -m demoe.cli train {params.config:q} "
        "--resume auto > {log} 2>&1"


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
