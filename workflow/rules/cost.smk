# Computational cost (Table 1, "Computational Cost" column).


rule cost_table:
    output:
        csv=f"{RESULTS}/tables/cost.csv",
        md=f"{RESULTS}/tables/cost.md",
    params:
        models=config["cost"]["models"],
        size=config["cost"]["size"],
        device=config["cost"]["device"],
        repeats=config["cost"]["runtime_repeats"],
        warmup=config["cost"]["runtime_warmup"],
    log:
        f"{RESULTS}/logs/cost_table.log",
    conda:
        CONDA_ENV
    threads: all_cores
    shell:
        "python analysis/cost_table.py --models {params.models} --size {params.size} "
        "--device {params.device} --repeats {params.repeats} --warmup {params.warmup} "
        "--csv {output.csv} --md {output.md} > {log} 2>&1"
