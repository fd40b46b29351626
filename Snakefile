# demoe: every figure and table of DeMoE (arXiv 2508.06228) as one DAG.
#   snakemake --cores all                      # embedded default (config/config.yaml)
#   snakemake --cores all --use-conda          # same, each rule in its pinned conda env
#   snakemake --cores all --configfile config/paper.yaml   # real data, paper-scale training
#   snakemake --cores all results/figures/fig02_layer_correlation.pdf   # one target only
#   snakemake --report results/report.html     # captioned report of a finished run


configfile: "config/config.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/report.smk"
include: "workflow/rules/cost.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/eval.smk"
include: "workflow/rules/tables.smk"
include: "workflow/rules/figures.smk"
include: "workflow/rules/claims.smk"


rule all:
    input:
        rules.cost_table.output,
        rules.table4_aioblur_distribution.output,
        TABLE_TARGETS,
        FIGURE_TARGETS,
        TRAIN_MODELS,
        rules.claims_scoreboard.output,
        report_tables(),


# One run writes a results folder at a time. Snakemake's own lock covers one working
# directory; two runs from different ones sharing `results` would delete each other's
# outputs (a failed job's outputs are removed). The lock is taken when jobs are about to
# run (never by a dry run or a run with nothing to do) and released when the run ends.
from snakemake.exceptions import WorkflowError

from demoe.errors import DataError
from demoe.io.atomic import lock_owner, release_lock, take_lock

RESULTS_LOCK = f"{RESULTS}/.demoe_run.lock"
RESULTS_LOCK_OWNER = lock_owner()


onstart:
    try:
        take_lock(RESULTS_LOCK, RESULTS_LOCK_OWNER, f"results folder {RESULTS}")
    except DataError as err:
        raise WorkflowError(str(err)) from None


onsuccess:
    release_lock(RESULTS_LOCK, RESULTS_LOCK_OWNER)


onerror:
    release_lock(RESULTS_LOCK, RESULTS_LOCK_OWNER)
