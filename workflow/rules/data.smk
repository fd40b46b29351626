# Data: AIO-Blur / AIO-Blur-OOD manifests (paper Sec. 4), Table 4 and Fig. 10.
# Needs common.smk (RESULTS, CONDA_ENV). With data.root null the manifests are built
# from the embedded synthetic default, written here in the published layouts.
import json
import os

DATA_SYNTHETIC = f"{RESULTS}/data/synthetic"
DATA_MANIFESTS = f"{RESULTS}/data/manifests"
DATA_ROOT = config["data"]["root"] or DATA_SYNTHETIC


rule synth_aioblur:
    output:
        directory(DATA_SYNTHETIC),
    params:
        scale=config["data"]["synthetic"]["scale"],
        seed=config["data"]["synthetic"]["seed"],
    log:
        f"{RESULTS}/logs/data/synth_aioblur.log",
    conda:
        CONDA_ENV
    shell:
        "python -m demoe.cli data synth-aioblur --out {output:q} --scale {params.scale:q} "
        "--seed {params.seed:q} > {log:q} 2>&1"


rule build_aioblur:
    input:
        DATA_SYNTHETIC if config["data"]["root"] is None else [],
    output:
        train=f"{DATA_MANIFESTS}/aioblur_train.jsonl",
        test=f"{DATA_MANIFESTS}/aioblur_test.jsonl",
        ood=f"{DATA_MANIFESTS}/aioblur_ood.jsonl",
        report=f"{DATA_MANIFESTS}/build_report.json",
        mse=f"{DATA_MANIFESTS}/mse_pairs.csv",
    params:
        # the synthetic default's folder (the input) or config data.root
        root=lambda wildcards, input: input[0] if input else DATA_ROOT,
        out=lambda wildcards, output: os.path.dirname(output.train),
        data=json.dumps(config["data"]),
    log:
        f"{RESULTS}/logs/data/build_aioblur.log",
    conda:
        CONDA_ENV
    shell:
        "python -m demoe.cli data build-aioblur --root {params.root:q} --out {params.out:q} "
        "--data-json {params.data:q} > {log:q} 2>&1"


rule table4_aioblur_distribution:
    input:
        report=rules.build_aioblur.output.report,
    output:
        csv=f"{RESULTS}/tables/table4_aioblur_distribution.csv",
        md=f"{RESULTS}/tables/table4_aioblur_distribution.md",
    log:
        f"{RESULTS}/logs/data/table4_aioblur_distribution.log",
    conda:
        CONDA_ENV
    shell:
        "python -m analysis.table4_aioblur_distribution --report {input.report:q} "
        "--csv {output.csv:q} --md {output.md:q} > {log:q} 2>&1"


rule fig10_lolblur_mse:
    input:
        report=rules.build_aioblur.output.report,
        mse=rules.build_aioblur.output.mse,
    output:
        pdf=f"{RESULTS}/figures/fig10_lolblur_mse.pdf",
        png=report_figure("fig10_lolblur_mse"),
    log:
        f"{RESULTS}/logs/data/fig10_lolblur_mse.log",
    conda:
        CONDA_ENV
    shell:
        "python -m analysis.fig10_lolblur_mse --report {input.report:q} --mse {input.mse:q} "
        "--pdf {output.pdf:q} --png {output.png:q} > {log:q} 2>&1"


# Fig. 8 (App. A): LOLv2-real, the other task's training set (not part of AIO-Blur).
# With data.root null a synthetic stand-in (low light, no blur) is written first.
DATA_SYNTHETIC_LOLV2 = f"{RESULTS}/data/synthetic_lolv2"
LOLV2_ROOT = (
    f"{DATA_SYNTHETIC_LOLV2}/LOLv2"
    if config["data"]["root"] is None
    else os.path.join(config["data"]["root"], config["data"]["roots"].get("lolv2_real") or "LOLv2")
)


rule synth_lolv2:
    output:
        directory(DATA_SYNTHETIC_LOLV2),
    params:
        scale=config["data"]["synthetic"]["scale"],
        seed=config["data"]["synthetic"]["seed"],
    log:
        f"{RESULTS}/logs/data/synth_lolv2.log",
    conda:
        CONDA_ENV
    shell:
        "python -m demoe.cli data synth-lolv2 --out {output:q} --scale {params.scale} "
        "--seed {params.seed} > {log:q} 2>&1"


rule build_lolv2:
    input:
        DATA_SYNTHETIC_LOLV2 if config["data"]["root"] is None else [],
    output:
        f"{DATA_MANIFESTS}/lolv2_real.jsonl",
    params:
        root=LOLV2_ROOT,
        data=json.dumps(config["data"]),
    log:
        f"{RESULTS}/logs/data/build_lolv2.log",
    conda:
        CONDA_ENV
    shell:
        "python -m demoe.cli data build-lolv2 --root {params.root:q} --out {output:q} "
        "--data-json {params.data:q} > {log:q} 2>&1"
