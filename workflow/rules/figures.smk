# Analysis figures (paper Figs. 2, 4-14): one rule per figure of the registry
# demoe/analysis/figures.py that this run draws, named after it (rule fig02_layer_correlation,
# ...); its script analysis/<name>.py writes <results>/figures/<name>.{pdf,png} (and
# <name>.csv: the per-layer scores behind Figs. 7, 8, 9, 11 (kind, pair, layer_type, layer,
# measure, score) and the per-image silhouettes behind Figs. 4, 13). The PNG goes into `snakemake --report` with its caption from workflow/report/
# (report_figure, common.smk). Fig. 8 only with its other-task model, Fig. 14 only with
# AIO-Blur-OOD data (FIGURE_RUN, common.smk).
# Reads common.smk's globals; the model, eval, manifest and table files come from the
# training, eval, data and cost rules.
from demoe.analysis.figures import COMMAND as FIGURE_COMMAND, drawn_figures


for _fig in drawn_figures(FIGURE_RUN):

    rule:
        name:
            _fig.name
        input:
            **_fig.inputs(FIGURE_RUN),
        output:
            pdf=paths.figure(RESULTS, _fig.name, "pdf"),
            png=report_figure(_fig.name),
            **_fig.csv_output(RESULTS),
        params:
            script=_fig.script,
            arguments=_fig.command_arguments(FIGURE_RUN),
            scale=RUN_SCALE.label,
        resources:
            # torch on analysis.device: a GPU where that is CUDA
            **({"gpu": gpu_request(config["analysis"]["device"])} if _fig.torch else {}),
        log:
            paths.log(RESULTS, "figures", _fig.name),
        conda:
            CONDA_ENV
        threads: all_cores if _fig.torch else 1
        shell:
            FIGURE_COMMAND
