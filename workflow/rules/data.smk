# Data: AIO-Blur / AIO-Blur-OOD manifests (paper Sec. 4) and Table 4 (Fig. 10, the
# LOLBlur MSE bins of build_aioblur, is drawn by figures.smk).
# Needs common.smk (RESULTS, CONDA_ENV). With data.root null the manifests are built
# from the embedded synthetic default, written here in the published layouts.
# A synthetic folder is not a rule output (Snakemake deletes a directory() output before
# rerunning its rule and after a failure, with whatever a user kept there): its rule's
# output is a copy of the writer's summary beside it (<folder>.done), and the writer
# refuses a folder that holds real data.
import json
import os

DATA_SYNTHETIC = paths.data(RESULTS, "synthetic")
DATA_ROOT = config["data"]["root"] or DATA_SYNTHETIC


rule synth_aioblur:
    output:
        f"{DATA_SYNTHETIC}.done",
    params:
        out=lambda wildcards, output: os.path.splitext(output[0])[0],  # the folder
        scale=config["data"]["synthetic"]["scale"],
        seed=config["data"]["synthetic"]["seed"],
    log:
        paths.log(RESULTS, "data", "synth_aioblur"),
    conda:
        CONDA_ENV
    shell:
        "python -m demoe.cli data synth-aioblur --out {params.out:q} --scale {params.scale:q} "
        "--seed {params.seed:q} > {log:q} 2>&1 && cp {params.out:q}/SYNTHETIC.json {output:q}"


rule build_aioblur:
    input:
        rules.synth_aioblur.output if config["data"]["root"] is None else [],
    output:
        train=MANIFESTS["train"],
        test=MANIFESTS["test"],
        ood=MANIFESTS["ood"],
        report=paths.build_report(RESULTS),
        mse=paths.mse_pairs(RESULTS),
    params:
        # the synthetic default's folder (beside its flag, the input) or config data.root
        root=lambda wildcards, input: os.path.splitext(input[0])[0] if input else DATA_ROOT,
        out=lambda wildcards, output: os.path.dirname(output.train),
        data=json.dumps(config["data"]),
    log:
        paths.log(RESULTS, "data", "build_aioblur"),
    conda:
        CONDA_ENV
    shell:
        "python -m demoe.cli data build-aioblur --root {params.root:q} --out {params.out:q} "
        "--data-json {params.data:q} > {log:q} 2>&1"


rule table4_aioblur_distribution:
    input:
        report=rules.build_aioblur.output.report,
    output:
        csv=paths.table(RESULTS, "table4_aioblur_distribution", "csv"),
        md=paths.table(RESULTS, "table4_aioblur_distribution", "md"),
    params:
        scale=RUN_SCALE.note_options(with_cost=False),
    log:
        paths.log(RESULTS, "data", "table4_aioblur_distribution"),
    conda:
        CONDA_ENV
    shell:
        "python -m analysis.table4_aioblur_distribution --report {input.report:q} "
        "--csv {output.csv:q} --md {output.md:q} {params.scale} > {log:q} 2>&1"


# Fig. 8 (App. A): LOLv2-real, the other task's training set (not part of AIO-Blur).
# With data.root null a synthetic stand-in (low light, no blur) is written first.
DATA_SYNTHETIC_LOLV2 = paths.data(RESULTS, "synthetic_lolv2")
LOLV2_ROOT = (
    f"{DATA_SYNTHETIC_LOLV2}/LOLv2"
    if config["data"]["root"] is None
    else os.path.join(config["data"]["root"], config["data"]["roots"].get("lolv2_real") or "LOLv2")
)


rule synth_lolv2:
    output:
        f"{DATA_SYNTHETIC_LOLV2}.done",
    params:
        out=lambda wildcards, output: os.path.splitext(output[0])[0],  # the folder
        scale=config["data"]["synthetic"]["scale"],
        seed=config["data"]["synthetic"]["seed"],
    log:
        paths.log(RESULTS, "data", "synth_lolv2"),
    conda:
        CONDA_ENV
    shell:
        "python -m demoe.cli data synth-lolv2 --out {params.out:q} --scale {params.scale} "
        "--seed {params.seed} > {log:q} 2>&1 "
        "&& cp {params.out:q}/SYNTHETIC_LOLV2.json {output:q}"


rule build_lolv2:
    input:
        rules.synth_lolv2.output if config["data"]["root"] is None else [],
    output:
        MANIFESTS["lolv2_real"],
    params:
        root=LOLV2_ROOT,
        data=json.dumps(config["data"]),
    log:
        paths.log(RESULTS, "data", "build_lolv2"),
    conda:
        CONDA_ENV
    shell:
        "python -m demoe.cli data build-lolv2 --root {params.root:q} --out {output:q} "
        "--data-json {params.data:q} > {log:q} 2>&1"
