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
    resources:
        gpu=gpu_request(config["cost"]["device"]),
    log:
        f"{RESULTS}/logs/cost_table.log",
    conda:
        CONDA_ENV
    threads: workflow.cores
    shell:
        "python analysis/cost_table.py --models {params.models:q} --size {params.size:q} "
        "--device {params.device:q} --repeats {params.repeats:q} --warmup {params.warmup:q} "
        "--csv {output.csv:q} --md {output.md:q} > {log:q} 2>&1"
