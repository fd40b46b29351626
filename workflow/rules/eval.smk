# Evaluation (paper Tables 1-3, 5, 6, 8, 9; Fig. 6 right; router figures): every evaluation
# listed by demoe/eval/plan.py, one `demoe eval-plan` job per experiment (torch and the model
# load once per experiment, not once per evaluation: issue 13 item 5), and the NIQE pristine
# model of the embedded default. Needs common.smk (RESULTS, CONDA_ENV, gpu_request).
from demoe.eval.iqa import check_required_files
from demoe.eval.jobs import eval_jobs
from demoe.eval.plan import check_experiments, needed_evaluations, table_specs
from demoe.tasks import BENCHMARK
from demoe.train.experiments import manifests

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
#: One job per experiment (demoe/eval/jobs.py), the blurry-input reference row
#: (`--blurry-input`, issue 14.3) included.
EVAL_JOBS = eval_jobs(EVALUATIONS)


# One rule per experiment, named evaluate_<experiment> (evaluate_demoe, evaluate_blurry_input,
# ...): its outputs are exactly that experiment's evaluation files, so a single evaluation
# target schedules only its experiment's job, and a changed model reruns only its own job.
# (One wildcard rule cannot do this: an experiment's set of evaluations is not a pattern.)
# The plan (one `demoe eval` argument list per evaluation) reaches the shell as one quoted
# JSON argument.
for _job in EVAL_JOBS:

    rule:
        name:
            _job.rule_name
        input:
            **_job.inputs(RESULTS, EVAL_MANIFESTS, EVAL, NIQE_PARAMS),
        output:
            _job.outputs(RESULTS),
        params:
            source=_job.source(RESULTS),
            plan=_job.plan(RESULTS, EVAL_MANIFESTS, EVAL, NIQE_PARAMS),
            device=EVAL["device"],
        resources:
            gpu=gpu_request(EVAL["device"]),
            runtime=_job.runtime,
        log:
            f"{RESULTS}/logs/eval/{_job.experiment}.log",
        conda:
            CONDA_ENV
        shell:
            "python -m demoe.cli eval-plan {params.source} --device {params.device:q} "
            "--plan {params.plan:q} > {log:q} 2>&1"


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
