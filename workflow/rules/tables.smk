# Results tables (paper Tables 1, 2, 3, 5, 6, 8, 9; Fig. 6 right) as CSV + Markdown + LaTeX,
# in the paper's shape: its rows (config/reported/) beside ours (the evaluations of
# demoe/eval/plan.py) and, for Tables 1, 5 and 7, the cost table. Needs common.smk, eval.smk
# and cost.smk.
import shlex

from demoe.analysis.tables import paper_file, table_evaluations_shown, uses_cost

TABLE_FORMATS = ("csv", "md", "tex")
#: Every results table file (for `rule all`).
TABLE_TARGETS = [f"{RESULTS}/tables/{name}.{ext}" for name in TABLE_SPECS for ext in TABLE_FORMATS]


def table_inputs(wildcards):
    spec = TABLE_SPECS[wildcards.table]
    evaluations = table_evaluations_shown(spec, TABLE_SPECS, EVAL_DATASETS)
    inputs = {"summaries": [str(e.path(RESULTS)) for e in evaluations]}
    reported = paper_file(REPO / "config" / "reported", spec)
    if reported.is_file():
        inputs["reported"] = str(reported)
    if uses_cost(spec):
        inputs["cost"] = f"{RESULTS}/tables/cost.csv"
    return inputs


def table_notes(spec):
    """Protocol notes printed under a table (NIQE model, TLC window)."""
    notes = []
    if "niqe" in spec.metrics:
        notes.append(
            "NIQE fitted on the AIO-Blur training targets (rule niqe_model), not the standard "
            "pristine model."
            if EVAL["niqe_params"] is None
            else f"NIQE pristine model: {EVAL['niqe_params']}."
        )
    if uses_cost(spec):
        notes.append(
            f"Computational cost of the paper-scale architectures at {config['cost']['size']} px "
            f"on {config['cost']['device']} (rule cost_table)."
        )
    if any(r.tlc for r in spec.rows):
        notes.append(f"TLC window: 1.5 x {EVAL['tlc']['train_size']} px (the training crop).")
    return notes


def table_options(wildcards, input):
    spec = TABLE_SPECS[wildcards.table]
    args = ["--datasets", *EVAL_DATASETS, "--tlc-experts", *EVAL["tlc"]["experts"]]
    args += [f"--reported={input.reported}"] if "reported" in input.keys() else []
    args += [f"--cost={input.cost}"] if "cost" in input.keys() else []
    # Rows of experiments with fixed weights (config checkpoints:) name the file.
    args += [f"--fixed-weights={name}={Path(path).name}" for name, path in CHECKPOINTS.items()]
    for note in table_notes(spec):
        args += ["--note", note]
    return shlex.join(args)


rule results_table:
    input:
        unpack(table_inputs),
    output:
        csv=f"{RESULTS}/tables/{{table}}.csv",
        md=f"{RESULTS}/tables/{{table}}.md",
        tex=f"{RESULTS}/tables/{{table}}.tex",
    wildcard_constraints:
        table="|".join(TABLE_SPECS),
    params:
        options=table_options,
        prefix=lambda wc: f"{RESULTS}/tables/{wc.table}",
    log:
        f"{RESULTS}/logs/tables/{{table}}.log",
    conda:
        CONDA_ENV
    shell:
        "python analysis/{wildcards.table}.py --results {RESULTS:q} {params.options} "
        "--out {params.prefix:q} > {log:q} 2>&1"
