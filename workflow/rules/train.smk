# Training (paper Sec. 3.4, App. C): every model the paper trains, one job per experiment of
# demoe/experiments/catalogue.py (the single source of the list) and per seed replicate of
# train.replicates (common.smk's EXPERIMENT_NAMES). Needs common.smk (RESULTS, CONDA_ENV,
# REPLICATES) and the manifests of data.smk (rule build_aioblur).
#
# The profile is config["train"] (config/config.yaml: small CPU profile; config/paper.yaml:
# paper-scale settings on GPUs; config/paper.yaml says which are the paper's). Each job gets its fully resolved config as `params`, so a
# changed value reruns only the experiments it reaches (and, through the model inputs,
# the experiments initialised from them); the bookkeeping settings (logging, checkpoint
# and validation intervals, workers: demoe.train.config.BOOKKEEPING_KEYS) go as command-line
# overrides through a param Snakemake does not hash (a function of `output`), so changing
# them reruns nothing. Checkpoints go to <results>/checkpoints/<name>/
# (not DAG outputs); an interrupted job continues from the latest one (--resume auto).
# The job's output goes to its log; the trainer's "demoe notice:" lines (a run restarting
# because its config or data changed) also reach the console.
import re

from demoe.workflow import TrainJobs, store_disk_mb

TRAIN = config["train"]
# Experiments given fixed weights under `checkpoints:` (common.smk) are imported, not trained.
TRAIN_EXPERIMENTS = [name for name in EXPERIMENT_NAMES if name not in CHECKPOINTS]
#: Input and param functions of rule train_model (demoe/workflow.py).
TRAIN_JOBS = TrainJobs(
    TRAIN, RESULTS, MANIFESTS, LOLV2_AVAILABLE, SEED_CONTROLS, REPLICATES, skipped=UNTRAINED
)
#: The models `rule all` trains, seed replicates included (Fig. 8's and the seed controls'
#: may be off).
TRAIN_MODELS = TRAIN_JOBS.default_models()


rule train_model:
    input:
        train=MANIFESTS["train"],
        test=MANIFESTS["test"],
        init=TRAIN_JOBS.init_model,
        store=TRAIN_JOBS.store_index,
        other=TRAIN_JOBS.other_manifest,
    output:
        weights=paths.model_file(RESULTS, "{experiment}"),
        model_config=paths.model_file(RESULTS, "{experiment}", paths.CONFIG_FILE),
        train_log=paths.model_file(RESULTS, "{experiment}", paths.TRAIN_LOG_FILE),
        resolved=paths.model_file(RESULTS, "{experiment}", paths.RESOLVED_CONFIG_FILE),
    wildcard_constraints:
        # no experiment to train (train.enabled: false): a pattern that matches nothing
        experiment="|".join(map(re.escape, TRAIN_EXPERIMENTS)) or "(?!)",
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
        paths.log(RESULTS, "train", "{experiment}"),
    benchmark:
        paths.benchmark(RESULTS, "train", "{experiment}")
    conda:
        CONDA_ENV
    shell:
        "OMP_NUM_THREADS={params.omp_threads:q} {params.launcher} -m demoe.cli train {params.config:q} "
        "{params.bookkeeping} --resume auto 2>&1 | tee {log:q} | {{ grep --line-buffered '^demoe notice: ' >&2 || true; }}"


# The training images decoded once (demoe.data.store), so a training crop is a
# memory-mapped read instead of two whole-image decodes; same batches as the files.
# The store removes only files it created and refuses a folder holding others.
rule prepare_train_store:
    input:
        lambda wc: MANIFESTS[wc.manifest],
    output:
        f"{paths.train_store(RESULTS, '{manifest}')}/index.json",
    wildcard_constraints:
        manifest="|".join(MANIFESTS),
    params:
        out=lambda wc: paths.train_store(RESULTS, wc.manifest),
    threads: 8  # decoding processes (Snakemake caps this at --cores)
    resources:
        # the decoded images (≈ 83 GB for AIO-Blur at paper scale): `demoe plan` bills it
        disk_mb=store_disk_mb(
            config["data"], {"train": AIO_DATASETS, **{d: [d] for d in OTHER_TASK}}
        ),
    log:
        paths.log(RESULTS, "data", "prepare_train_store_{manifest}"),
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
            weights=paths.model_file(RESULTS, "{experiment}"),
            model_config=paths.model_file(RESULTS, "{experiment}", paths.CONFIG_FILE),
        wildcard_constraints:
            experiment="|".join(map(re.escape, CHECKPOINTS)),
        params:
            out=lambda wc: paths.model_dir(RESULTS, wc.experiment),
        log:
            paths.log(RESULTS, "train", "{experiment}_import"),
        conda:
            CONDA_ENV
        shell:
            "python -m demoe.cli models import {input.checkpoint:q} --out {params.out:q} "
            "> {log:q} 2>&1"
