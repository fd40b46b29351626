# Computational cost (Table 1 "Computational Cost" column, Table 5 right, App. F width 64,
# DeMoE-5 of Sec. 5 / Fig. 6 left), beside the paper's values from config/reported/.

COST_REPORTED_DIR = REPO / "config" / "reported"


def cost_reported_files(wildcards):
    """The reported-number files the cost table reads (those present)."""
    from demoe.eval.cost import REPORTED

    names = {REPORTED[m].file for m in config["cost"]["models"] if m in REPORTED}
    return [str(COST_REPORTED_DIR / n) for n in sorted(names) if (COST_REPORTED_DIR / n).is_file()]


rule cost_table:
    input:
        reported=cost_reported_files,
    output:
        csv=f"{RESULTS}/tables/cost.csv",
        md=f"{RESULTS}/tables/cost.md",
    params:
        models=config["cost"]["models"],
        size=config["cost"]["size"],
        device=config["cost"]["device"],
        repeats=config["cost"]["runtime_repeats"],
        warmup=config["cost"]["runtime_warmup"],
        reported_dir=str(COST_REPORTED_DIR),
    log:
        f"{RESULTS}/logs/cost_table.log",
    conda:
        CONDA_ENV
    threads: workflow.cores
    shell:
        "python analysis/cost_table.py --models {params.models} --size {params.size} "
        "--device {params.device} --repeats {params.repeats} --warmup {params.warmup} "
        "--reported-dir {params.reported_dir:q} --csv {output.csv:q} --md {output.md:q} > {log} 2>&1"
