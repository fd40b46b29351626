# demoe: every figure and table of DeMoE (arXiv 2508.06228) as one DAG.
#   snakemake --cores all                      # embedded default (config/config.yaml)
#   snakemake --cores all --use-conda          # same, each rule in its pinned conda env
#   snakemake --configfile config/paper.yaml   # real datasets, paper-scale training
#   snakemake results/tables/cost.csv          # one target and only what it needs

configfile: "config/config.yaml"


include: "workflow/rules/common.smk"
include: "workflow/rules/cost.smk"
include: "workflow/rules/data.smk"


rule all:
    input:
        rules.cost_table.output,
        rules.table4_aioblur_distribution.output,
        rules.fig10_lolblur_mse.output,
