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
import re

from demoe.tasks import AIO_BLUR
from demoe.train.experiments import EXPERIMENTS, manifests, model_dir, train_store
from demoe.workflow import TrainJobs

TRAIN = config["train"]
# Experiments given fixed weights under `checkpoints:` (common.smk) are imported, not trained.
TRAIN_EXPERIMENTS = [name for name in EXPERIMENTS if name not in CHECKPOINTS]
# Fig. 8's LOLv2-real NAFNet: trained when its data is there (always in the synthetic default).
LOLV2_AVAILABLE = config["data"]["root"] is None or bool(config["data"]["roots"].get("lolv2_real"))
# Seed controls of Figs. 2/7/9: only for the datasets in analysis.similarity.seed_controls.
SEED_CONTROLS = config["analysis"]["similarity"].get("seed_controls", list(AIO_BLUR))
TRAIN_MANIFESTS = manifests(RESULTS)
#: Input and param functions of rule train_model (demoe/workflow.py).
TRAIN_JOBS = TrainJobs(TRAIN, RESULTS, TRAIN_MANIFESTS, LOLV2_AVAILABLE, SEED_CONTROLS)
#: The models `rule all` trains (Fig. 8's and the seed controls' may be off).
TRAIN_MODELS = TRAIN_JOBS.default_models()


rule train_model:
    input:
        train=TRAIN_MANIFESTS["train"],
        test=TRAIN_MANIFESTS["test"],
        init=TRAIN_JOBS.init_model,
        store=TRAIN_JOBS.store_index,
        other=TRAIN_JOBS.other_manifest,
    output:
        weights=f"{RESULTS}/models/{{experiment}}/model.safetensors",
        model_config=f"{RESULTS}/models/{{experiment}}/config.json",
        train_log=f"{RESULTS}/models/{{experiment}}/train_log.jsonl",
        resolved=f"{RESULTS}/models/{{experiment}}/resolved_config.yaml",
    wildcard_constraints:
        experiment="|".join(TRAIN_EXPERIMENTS),
    params:
        config=TRAIN_JOBS.settings,
        bookkeeping=TRAIN_JOBS.bookkeeping,
        launcher=TRAIN_JOBS.launcher(),
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
