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
