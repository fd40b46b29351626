# Results tables (paper Tables 1-3 and 5-9; Fig. 6 (right)) as CSV + Markdown + LaTeX,
# in the paper's shape: its rows (config/reported/) beside ours (the evaluations of
# demoe/experiments/paper_tables.py) and, for Tables 1, 5 and 7, the cost table. Needs common.smk, eval.smk
# and cost.smk. Our numbers and their bootstrap intervals come from the per-image results of
# every seed replicate (train.replicates); the interval settings (analysis.intervals) and the
# replicates are params, so changing either reruns the tables.
from demoe.analysis.table_render import intervals_param, replicates_param
from demoe.analysis.tables import per_image_files
from demoe.workflow import TableJobs

TABLE_FORMATS = ("csv", "md", "tex")
#: Every results table file (for `rule all`).
TABLE_TARGETS = [paths.table(RESULTS, name, ext) for name in TABLE_SPECS for ext in TABLE_FORMATS]
#: Input and param functions of rule results_table (demoe/workflow.py).
TABLE_JOBS = TableJobs(
    TABLE_SPECS,
    EVAL_DATASETS,
    EVAL,
    CHECKPOINTS,
    RESULTS,
    CONFIG_DIR / "reported",
    UNTRAINED,
)


rule results_table:
    input:
        unpack(TABLE_JOBS.inputs),
        per_image=lambda wildcards: per_image_files(
            TABLE_SPECS[wildcards.table], RESULTS, REPLICATES, TABLE_SPECS, EVAL_DATASETS
        ),
    output:
        csv=paths.table(RESULTS, "{table}", "csv"),
        md=paths.table(RESULTS, "{table}", "md"),
        tex=paths.table(RESULTS, "{table}", "tex"),
    wildcard_constraints:
        table="|".join(TABLE_SPECS),
    params:
        results=lambda wildcards, output: str(Path(output.csv).parents[1]),
        options=TABLE_JOBS.options,
        prefix=lambda wildcards, output: output.csv.removesuffix(".csv"),
        intervals=intervals_param(config),
        replicates=replicates_param(REPLICATES),
        scale=lambda wildcards, input: RUN_SCALE.note_options("cost" in input.keys()),
    log:
        paths.log(RESULTS, "tables", "{table}"),
    conda:
        CONDA_ENV
    shell:
        "python -m analysis.{wildcards.table} --results {params.results:q} {params.options} "
        "--intervals {params.intervals:q} --replicates {params.replicates:q} {params.scale} "
        "--out {params.prefix:q} > {log:q} 2>&1"
