# Evaluation (paper Tables 1-3, 5, 6, 8, 9; Fig. 6 right; router figures): one `demoe eval`
# per (experiment, dataset, expert, TLC variant) listed by demoe/eval/plan.py, and the NIQE
# pristine model of the embedded default. Needs common.smk (RESULTS, CONDA_ENV).
import shlex
from types import SimpleNamespace

from demoe.eval.plan import (
    AUTO,
    BLURRY_INPUT,
    check_experiments,
    eval_metrics,
    needed_evaluations,
    parse_run,
    table_specs,
    tlc_cli_value,
)
from demoe.eval.iqa import check_required_files
from demoe.tasks import AIO_BLUR_OOD, BENCHMARK, DATASETS
from demoe.train.experiments import manifests, model_dir

EVAL = config["eval"]
check_required_files(EVAL)  # eval.require_iqa_files (config/paper.yaml): no silent n/a
EVAL_MANIFESTS = manifests(RESULTS)
# Datasets the manifests hold: all with the synthetic default, else those not dropped.
EVAL_DATASETS = [
    d for d in BENCHMARK if config["data"]["root"] is None or config["data"]["roots"].get(d)
]
TABLE_SPECS = table_specs(EVAL["tlc"]["experts"])
EVALUATIONS = needed_evaluations(TABLE_SPECS.values(), EVAL_DATASETS)
check_experiments(EVALUATIONS)
#: Every evaluation summary (the figures read the per-image CSVs beside them).
EVAL_TARGETS = [str(e.path(RESULTS, ".json")) for e in EVALUATIONS]
NIQE_FITTED = f"{RESULTS}/data/niqe_params.npz"
NIQE_PARAMS = EVAL["niqe_params"] or NIQE_FITTED


def eval_manifest(wildcards):
    return EVAL_MANIFESTS["ood" if wildcards.dataset in AIO_BLUR_OOD else "test"]


def eval_niqe(wildcards):
    return [NIQE_PARAMS] if "niqe" in eval_metrics(wildcards.dataset, EVAL) else []


def eval_options(wildcards):
    """Command-line options of one evaluation (expert, TLC, metrics, protocol, weights)."""
    expert, tlc = parse_run(wildcards.run)
    args = ["--task", expert, "--metrics", *eval_metrics(wildcards.dataset, EVAL)]
    if tlc is not None:
        args += ["--tlc", tlc_cli_value(tlc), "--tlc-train-size", str(EVAL["tlc"]["train_size"])]
    if wildcards.dataset in EVAL["align_ecc"]:
        args.append("--align-ecc")
    if eval_niqe(wildcards):
        args += ["--niqe-params", NIQE_PARAMS]
    for key in ("lpips_weights", "alexnet_weights", "musiq_weights", "nrqm_weights"):
        if EVAL[key]:
            args += [f"--{key.replace('_', '-')}", EVAL[key]]
    if EVAL["save_images"]:
        args += ["--save-images", f"{RESULTS}/eval/{wildcards.experiment}/"
                 f"{wildcards.dataset}/{wildcards.run}_images"]
    return shlex.join(args)


rule evaluate:
    input:
        weights=f"{RESULTS}/models/{{experiment}}/model.safetensors",
        model_config=f"{RESULTS}/models/{{experiment}}/config.json",
        manifest=eval_manifest,
        niqe=eval_niqe,
    output:
        csv=f"{RESULTS}/eval/{{experiment}}/{{dataset}}/{{run}}.csv",
        summary=f"{RESULTS}/eval/{{experiment}}/{{dataset}}/{{run}}.json",
    wildcard_constraints:
        experiment=r"[a-z0-9_]+",
        dataset="|".join(DATASETS),
        run=r"[a-z_]+(_tlc-[a-z_+]+)?",
    params:
        model=lambda wc: model_dir(RESULTS, wc.experiment),
        options=eval_options,
        device=EVAL["device"],
    resources:
        gpu=gpu_request(EVAL["device"]),
    log:
        f"{RESULTS}/logs/eval/{{experiment}}/{{dataset}}/{{run}}.log",
    conda:
        CONDA_ENV
    shell:
        "python -m demoe.cli eval --model {params.model:q} --manifest {input.manifest:q} "
        "--dataset {wildcards.dataset} {params.options} --device {params.device:q} "
        "--out {output.csv:q} --summary {output.summary:q} > {log:q} 2>&1"


rule niqe_model:
    input:
        manifest=EVAL_MANIFESTS["train"],
    output:
        NIQE_FITTED,
    params:
        images=EVAL["niqe_fit_images"],
    log:
        f"{RESULTS}/logs/eval/niqe_model.log",
    conda:
        CONDA_ENV
    shell:
        "python -m demoe.cli niqe-fit --manifest {input.manifest:q} --split train "
                "--max-images {params.images:q} --out {output:q} > {log:q} 2>&1"


# --- Blurry-input reference row (issue 14.3; Tables 1, 2, 3, 8, 9) -----------------------
# The degraded image scored as it is (no model), with the options of any evaluation (metrics,
# RealBlur alignment, NIQE model); its evaluations come from the plan like the others'.
ruleorder: evaluate_blurry_input > evaluate


def blurry_input_options(wildcards):
    """eval_options of the blurry-input evaluations (no experiment wildcard)."""
    return eval_options(
        SimpleNamespace(experiment=BLURRY_INPUT, dataset=wildcards.dataset, run=wildcards.run)
    )


rule evaluate_blurry_input:
    input:
        manifest=eval_manifest,
        niqe=eval_niqe,
    output:
        csv=f"{RESULTS}/eval/{BLURRY_INPUT}/{{dataset}}/{{run}}.csv",
        summary=f"{RESULTS}/eval/{BLURRY_INPUT}/{{dataset}}/{{run}}.json",
    wildcard_constraints:
        dataset="|".join(DATASETS),
        run=AUTO,
    params:
        options=blurry_input_options,
    resources:
        gpu=gpu_request(EVAL["device"]),
    log:
        f"{RESULTS}/logs/eval/{BLURRY_INPUT}/{{dataset}}/{{run}}.log",
    conda:
        CONDA_ENV
    shell:
        "python -m demoe.cli eval --blurry-input --manifest {input.manifest:q} "
        "--dataset {wildcards.dataset:q} {params.options} "
        "--out {output.csv:q} --summary {output.summary:q} > {log:q} 2>&1"
