# Analysis figures (paper Figs. 2, 4-9, 11-14): one rule per figure, each writing
# <results>/figures/figNN_<name>.{pdf,png}; the PNG goes into `snakemake --report` with
# its caption from workflow/report/ (report_figure, common.smk). Figs. 7, 8, 9, 11 also
# write their per-layer-type means as figNN_<name>.csv (kind, pair, layer_type, measure,
# score, n_layers).
# Needs common.smk (RESULTS, CONDA_ENV); the model, eval and manifest files come from the
# training, eval and data rules.
# Fig. 8 compares with nafnet_lolv2_real (or analysis.fig08_other_checkpoint if set).
import os
import shlex
from pathlib import Path

from demoe.analysis.plots.labels import task_specific_model
from demoe.experiments.catalogue import SEED_CONTROL_SUFFIX
from demoe.workflow import clip_options

ANALYSIS = config["analysis"]
FIGURES = f"{RESULTS}/figures"
FIG_MANIFESTS = MANIFESTS
# Datasets the manifests hold: all with the synthetic default, else those not dropped.
FIG_AIO = AIO_DATASETS
FIG_OOD = OOD_DATASETS
SIMILARITY = ANALYSIS["similarity"]
TSNE = ANALYSIS["tsne"]
QUALITATIVE = ANALYSIS["qualitative"]
#: The weights file of a trained experiment.
fig_model = lambda name: paths.model_file(RESULTS, name)

NAFNETS = [fig_model(f"nafnet_{d}") for d in FIG_AIO]
# Similarity-study controls (Figs. 2/7/9): the same training from another seed, and the
# training config beside each model (its initial weights are rebuilt from it).
NAFNET_SEED_CONTROLS = [
    fig_model(f"nafnet_{d}{SEED_CONTROL_SUFFIX}") for d in FIG_AIO if d in SEED_CONTROLS
]
NAFNET_CONFIGS = [
    paths.model_file(RESULTS, f"nafnet_{d}", paths.RESOLVED_CONFIG_FILE) for d in FIG_AIO
]
DEMOE_AUTO = {d: paths.eval_file(RESULTS, "demoe", d, "auto", ".csv") for d in (*FIG_AIO, *FIG_OOD)}
TSNE_OPTIONS = (
    f"--max-per-dataset {TSNE['max_images_per_dataset']} "
    f"--perplexity {TSNE['perplexity']} --seed {TSNE['seed']}"
)
# Fixed DeMoE weights (config checkpoints:) are named in the router figures' titles.
ROUTER_OPTIONS = (
    shlex.join(["--weights-source", Path(CHECKPOINTS["demoe"]).name])
    if "demoe" in CHECKPOINTS
    else ""
)
QUALITATIVE_OPTIONS = shlex.join(
    ["--crop", str(QUALITATIVE["crop"]), "--index", str(QUALITATIVE["index"])]
    + ["--device", ANALYSIS["device"]]
)


rule fig02_layer_correlation:
    input:
        models=NAFNETS,
        controls=NAFNET_SEED_CONTROLS,
        configs=NAFNET_CONFIGS,
    output:
        pdf=f"{FIGURES}/fig02_layer_correlation.pdf",
        png=report_figure("fig02_layer_correlation"),
    params:
        params=SIMILARITY["params"],
        threshold=SIMILARITY["threshold"],
    log:
        f"{RESULTS}/logs/figures/fig02_layer_correlation.log",
    conda:
        CONDA_ENV
    shell:
        "python -m analysis.fig02_layer_correlation --models {input.models:q} "
        "--seed-controls {input.controls:q} --init-control "
        "--params {params.params:q} --threshold {params.threshold:q} "
        "--pdf {output.pdf:q} --png {output.png:q} > {log:q} 2>&1"


rule fig07_layer_type_correlation:
    input:
        models=NAFNETS,
        controls=NAFNET_SEED_CONTROLS,
        configs=NAFNET_CONFIGS,
    output:
        pdf=f"{FIGURES}/fig07_layer_type_correlation.pdf",
        png=report_figure("fig07_layer_type_correlation"),
        csv=f"{FIGURES}/fig07_layer_type_correlation.csv",
    params:
        params=SIMILARITY["params"],
    log:
        f"{RESULTS}/logs/figures/fig07_layer_type_correlation.log",
    conda:
        CONDA_ENV
    shell:
        "python -m analysis.fig07_layer_type_correlation --models {input.models:q} "
        "--seed-controls {input.controls:q} --init-control --csv {output.csv:q} "
        "--params {params.params:q} --pdf {output.pdf:q} --png {output.png:q} > {log:q} 2>&1"


FIG08_OTHER = ANALYSIS["fig08_other_checkpoint"]
if FIG08_OTHER and not os.path.exists(FIG08_OTHER):
    raise ValueError(f"analysis.fig08_other_checkpoint: no checkpoint at {FIG08_OTHER}")
# Fig. 8's other-task model: the user's checkpoint if set, else nafnet_lolv2_real, trained
# on data.roots.lolv2_real (the synthetic stand-in in the default); without either, no Fig. 8.
FIG08_MODEL = FIG08_OTHER or (fig_model("nafnet_lolv2_real") if LOLV2_AVAILABLE else None)

if FIG08_MODEL:

    rule fig08_other_task_correlation:
        input:
            models=NAFNETS,
            other=FIG08_MODEL,
        output:
            pdf=f"{FIGURES}/fig08_other_task_correlation.pdf",
            png=report_figure("fig08_other_task_correlation"),
            csv=f"{FIGURES}/fig08_other_task_correlation.csv",
        params:
            params=SIMILARITY["params"],
            threshold=SIMILARITY["threshold"],
            label="" if FIG08_OTHER else "--other-label 'LOLv2-real (low-light enhancement)'",
        log:
            f"{RESULTS}/logs/figures/fig08_other_task_correlation.log",
        conda:
            CONDA_ENV
        shell:
            "python -m analysis.fig08_other_task_correlation --models {input.models:q} "
            "--other {input.other:q} {params.label} --params {params.params:q} "
            "--threshold {params.threshold:q} --csv {output.csv:q} "
            "--pdf {output.pdf:q} --png {output.png:q} > {log:q} 2>&1"


rule fig09_cka:
    input:
        models=NAFNETS,
        controls=NAFNET_SEED_CONTROLS,
        configs=NAFNET_CONFIGS,
    output:
        pdf=f"{FIGURES}/fig09_cka.pdf",
        png=report_figure("fig09_cka"),
        csv=f"{FIGURES}/fig09_cka.csv",
    params:
        params=SIMILARITY["params"],
        sigma=SIMILARITY["cka_sigma_factor"],
    log:
        f"{RESULTS}/logs/figures/fig09_cka.log",
    conda:
        CONDA_ENV
    shell:
        "python -m analysis.fig09_cka --models {input.models:q} --params {params.params:q} "
        "--seed-controls {input.controls:q} --init-control --csv {output.csv:q} "
        "--sigma-factor {params.sigma:q} --pdf {output.pdf:q} --png {output.png:q} > {log:q} 2>&1"


rule fig11_expert_correlation:
    input:
        model=fig_model("demoe"),
    output:
        pdf=f"{FIGURES}/fig11_expert_correlation.pdf",
        png=report_figure("fig11_expert_correlation"),
        csv=f"{FIGURES}/fig11_expert_correlation.csv",
    params:
        params=SIMILARITY["params"],
    log:
        f"{RESULTS}/logs/figures/fig11_expert_correlation.log",
    conda:
        CONDA_ENV
    shell:
        "python -m analysis.fig11_expert_correlation --model {input.model:q} "
        "--csv {output.csv:q} --params {params.params:q} "
        "--pdf {output.pdf:q} --png {output.png:q} > {log:q} 2>&1"


rule fig04_dataset_tsne:
    input:
        manifests=[FIG_MANIFESTS["test"], FIG_MANIFESTS["ood"]],
    output:
        pdf=f"{FIGURES}/fig04_dataset_tsne.pdf",
        png=report_figure("fig04_dataset_tsne"),
    params:
        datasets=[*FIG_AIO, *FIG_OOD],
        clip=clip_options(ANALYSIS["clip"]),
        tsne=TSNE_OPTIONS,
        device=ANALYSIS["device"],
    resources:
        gpu=gpu_request(ANALYSIS["device"]),
    log:
        f"{RESULTS}/logs/figures/fig04_dataset_tsne.log",
    conda:
        CONDA_ENV
    threads: all_cores
    shell:
        "python -m analysis.fig04_dataset_tsne --manifests {input.manifests:q} "
        "--datasets {params.datasets:q} {params.clip} {params.tsne} --device {params.device:q} "
        "--pdf {output.pdf:q} --png {output.png:q} > {log:q} 2>&1"


rule fig13_encoder_tsne:
    input:
        manifest=FIG_MANIFESTS["test"],
        no_class=fig_model("baseline_aio_noclass"),
        class_loss=fig_model("baseline_aio"),
        original_arch=fig_model("baseline_original_arch"),
    output:
        pdf=f"{FIGURES}/fig13_encoder_tsne.pdf",
        png=report_figure("fig13_encoder_tsne"),
    params:
        datasets=FIG_AIO,
        tsne=TSNE_OPTIONS,
        device=ANALYSIS["device"],
    resources:
        gpu=gpu_request(ANALYSIS["device"]),
    log:
        f"{RESULTS}/logs/figures/fig13_encoder_tsne.log",
    conda:
        CONDA_ENV
    threads: all_cores
    shell:
        "python -m analysis.fig13_encoder_tsne --manifest {input.manifest:q} "
        "--datasets {params.datasets:q} --no-class {input.no_class:q} "
        "--class-loss {input.class_loss:q} --original-arch {input.original_arch:q} "
        "{params.tsne} --device {params.device:q} "
        "--pdf {output.pdf:q} --png {output.png:q} > {log:q} 2>&1"


rule fig12_router_output:
    input:
        csv=list(DEMOE_AUTO.values()),
    output:
        pdf=f"{FIGURES}/fig12_router_output.pdf",
        png=report_figure("fig12_router_output"),
    params:
        router=ROUTER_OPTIONS,
    log:
        f"{RESULTS}/logs/figures/fig12_router_output.log",
    conda:
        CONDA_ENV
    shell:
        "python -m analysis.fig12_router_output --csv {input.csv:q} {params.router} "
        "--pdf {output.pdf:q} --png {output.png:q} > {log:q} 2>&1"


rule fig12_router_confusion:
    input:
        csv=[DEMOE_AUTO[d] for d in FIG_AIO],
    output:
        pdf=f"{FIGURES}/fig12_router_confusion.pdf",
        png=report_figure("fig12_router_confusion"),
    params:
        router=ROUTER_OPTIONS,
    log:
        f"{RESULTS}/logs/figures/fig12_router_confusion.log",
    conda:
        CONDA_ENV
    shell:
        "python -m analysis.fig12_router_confusion --csv {input.csv:q} {params.router} "
        "--pdf {output.pdf:q} --png {output.png:q} > {log:q} 2>&1"


rule fig05_qualitative:
    input:
        manifest=FIG_MANIFESTS["test"],
        demoe=fig_model("demoe"),
        task_specific=sorted({fig_model(task_specific_model(d)) for d in FIG_AIO}),
    output:
        pdf=f"{FIGURES}/fig05_qualitative.pdf",
        png=report_figure("fig05_qualitative"),
    params:
        datasets=FIG_AIO,
        options=QUALITATIVE_OPTIONS,
    resources:
        gpu=gpu_request(ANALYSIS["device"]),
    log:
        f"{RESULTS}/logs/figures/fig05_qualitative.log",
    conda:
        CONDA_ENV
    threads: all_cores
    shell:
        "python -m analysis.fig05_qualitative --manifest {input.manifest:q} "
        "--datasets {params.datasets:q} --demoe {input.demoe:q} "
        "--task-specific {input.task_specific:q} {params.options} "
        "--pdf {output.pdf:q} --png {output.png:q} > {log:q} 2>&1"


rule fig14_qualitative_ood:
    input:
        manifest=FIG_MANIFESTS["ood"],
        demoe=fig_model("demoe"),
        task_specific=sorted({fig_model(task_specific_model(d)) for d in FIG_OOD}),
    output:
        pdf=f"{FIGURES}/fig14_qualitative_ood.pdf",
        png=report_figure("fig14_qualitative_ood"),
    params:
        datasets=FIG_OOD,
        options=QUALITATIVE_OPTIONS,
    resources:
        gpu=gpu_request(ANALYSIS["device"]),
    log:
        f"{RESULTS}/logs/figures/fig14_qualitative_ood.log",
    conda:
        CONDA_ENV
    threads: all_cores
    shell:
        "python -m analysis.fig14_qualitative_ood --manifest {input.manifest:q} "
        "--datasets {params.datasets:q} --demoe {input.demoe:q} "
        "--task-specific {input.task_specific:q} {params.options} "
        "--pdf {output.pdf:q} --png {output.png:q} > {log:q} 2>&1"


rule fig06_cost:
    input:
        cost=f"{RESULTS}/tables/cost.csv",
    output:
        pdf=f"{FIGURES}/fig06_cost.pdf",
        png=report_figure("fig06_cost"),
    log:
        f"{RESULTS}/logs/figures/fig06_cost.log",
    conda:
        CONDA_ENV
    shell:
        "python -m analysis.fig06_cost --cost {input.cost:q} "
        "--pdf {output.pdf:q} --png {output.png:q} > {log:q} 2>&1"


#: Every analysis figure of this file (PDF + PNG), for `rule all`.
FIGURE_TARGETS = [
    f"{FIGURES}/{name}.{ext}"
    for name in (
        "fig02_layer_correlation",
        "fig07_layer_type_correlation",
        *(["fig08_other_task_correlation"] if FIG08_MODEL else []),
        "fig09_cka",
        "fig11_expert_correlation",
        "fig04_dataset_tsne",
        "fig13_encoder_tsne",
        "fig12_router_output",
        "fig12_router_confusion",
        "fig05_qualitative",
        *(["fig14_qualitative_ood"] if FIG_OOD else []),
        "fig06_cost",
    )
    for ext in ("pdf", "png")
] + [
    f"{FIGURES}/{name}.csv"
    for name in (
        "fig07_layer_type_correlation",
        *(["fig08_other_task_correlation"] if FIG08_MODEL else []),
        "fig09_cka",
        "fig11_expert_correlation",
    )
]
