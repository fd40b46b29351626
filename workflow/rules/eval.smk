# Evaluation (paper Tables 1-3, 5, 6, 8, 9; Fig. 6 right; router figures): every evaluation
# listed by demoe/experiments/paper_tables.py, one `demoe eval-plan` job per experiment (torch and the model
# load once per experiment, not once per evaluation), and the NIQE pristine
# model of the embedded default. Reads common.smk's globals.
from demoe.analysis.table_render import intervals_param
from demoe.experiments.eval_jobs import eval_jobs

NIQE_FITTED = paths.niqe_params(RESULTS)
NIQE_PARAMS = EVAL["niqe_params"] or NIQE_FITTED
#: One job per experiment (demoe/experiments/eval_jobs.py), the blurry-input reference row
#: (`--blurry-input`) included.
EVAL_JOBS = eval_jobs(EVALUATIONS)


# One rule per experiment, named evaluate_<experiment> (evaluate_demoe, evaluate_blurry_input,
# ...): its outputs are exactly that experiment's evaluation files, so a single evaluation
# target schedules only its experiment's job, and a changed model reruns only its own job.
# (One wildcard rule cannot do this: an experiment's set of evaluations is not a pattern.)
# The plan (one `demoe eval` argument list per evaluation) reaches the shell as one quoted
# JSON argument. A model's job also writes its model card (README.md) again with the
# scores it measured, each with its bootstrap interval.
for _job in EVAL_JOBS:

    rule:
        name:
            _job.rule_name
        input:
            **_job.inputs(RESULTS, MANIFESTS, EVAL, NIQE_PARAMS),
        output:
            _job.outputs(RESULTS),
            **_job.card_output(RESULTS),
        params:
            source=_job.source(RESULTS),
            card=_job.card_options(intervals_param(config)),
            plan=_job.plan(RESULTS, MANIFESTS, EVAL, NIQE_PARAMS),
            device=EVAL["device"],
        resources:
            gpu=gpu_request(EVAL["device"]),
            runtime=_job.runtime,
        log:
            paths.log(RESULTS, "eval", _job.experiment),
        conda:
            CONDA_ENV
        shell:
            "python -m demoe.cli eval-plan {params.source} --device {params.device:q} "
            "--plan {params.plan:q} {params.card} > {log:q} 2>&1"


rule niqe_model:
    input:
        manifest=MANIFESTS["train"],
    output:
        NIQE_FITTED,
    params:
        images=EVAL["niqe_fit_images"],
    log:
        paths.log(RESULTS, "eval", "niqe_model"),
    conda:
        CONDA_ENV
    shell:
        "python -m demoe.cli niqe-fit --manifest {input.manifest:q} --split train "
                "--max-images {params.images:q} --out {output:q} > {log:q} 2>&1"
