# Computational cost (Table 1 "Computational Cost" column, Table 5 right, App. F width 64,
# DeMoE-5 of Sec. 5 / Fig. 6 left), beside the paper's values from config/reported/. The
# runtime's interval comes from the timing repeats (cost.runtime_repeats; the models timed
# interleaved), with the interval settings (analysis.intervals): a param, so changing them
# reruns the timing too.
import json

from demoe.analysis.table_render import intervals_param
from demoe.experiments.paper_rows import COST_ROWS
from demoe.models.experts import TABLE7_EXPERT_BLOCKS
from demoe.models.registry import PRESETS

COST_REPORTED_DIR = CONFIG_DIR / "reported"
#: The user's models (config models:): their presets go to the script, which cannot know them.
USER_PRESETS = {m.preset: PRESETS[m.preset] for m in USER_MODELS}
#: The config's models, then the Table 7 expert blocks and the compared methods and user's
#: models this run trains (common.smk's COMPARED) that it does not list.
COST_MODELS = list(
    dict.fromkeys(
        [
            *config["cost"]["models"],
            *(f"demoe_{block}" for block in TABLE7_EXPERT_BLOCKS),
            *(m.preset for m in COMPARED),
        ]
    )
)
#: The reported-number files the cost table reads (those present).
COST_REPORTED_FILES = sorted(
    {
        str(COST_REPORTED_DIR / COST_ROWS[m].file)
        for m in COST_MODELS
        if m in COST_ROWS and (COST_REPORTED_DIR / COST_ROWS[m].file).is_file()
    }
)


rule cost_table:
    input:
        reported=COST_REPORTED_FILES,
    output:
        csv=paths.table(RESULTS, "cost", "csv"),
        md=paths.table(RESULTS, "cost", "md"),
        repeats=paths.cost_repeats(RESULTS),
    params:
        models=COST_MODELS,
        size=config["cost"]["size"],
        device=config["cost"]["device"],
        repeats=config["cost"]["runtime_repeats"],
        model_repeats=[f"{m}={n}" for m, n in config["cost"]["runtime_repeats_per_model"].items()],
        warmup=config["cost"]["runtime_warmup"],
        intervals=intervals_param(config),
        model_configs=[f"{m}={json.dumps(c, sort_keys=True)}" for m, c in USER_PRESETS.items()],
        scale=RUN_SCALE.note_options(with_cost=True),
    resources:
        gpu=gpu_request(config["cost"]["device"]),
    log:
        paths.log(RESULTS, "tables", "cost"),
    conda:
        CONDA_ENV
    threads: all_cores
    shell:
        "python -m analysis.cost_table --models {params.models:q} --size {params.size:q} "
        "--device {params.device:q} --repeats {params.repeats:q} --warmup {params.warmup:q} "
        "--model-repeats {params.model_repeats:q} --intervals {params.intervals:q} "
        "--reported {input.reported:q} --csv {output.csv:q} --md {output.md:q} "
        "--repeats-csv {output.repeats:q} --model-config {params.model_configs:q} {params.scale} "
        "> {log:q} 2>&1"
