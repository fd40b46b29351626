# Claims scoreboard: each claim of config/claims.yaml tested on this run's
# artifacts (evaluation summaries, router outputs, figure CSVs, cost table) as
# <results>/tables/claims.{csv,md}. Reads common.smk's globals and the figure registry.
import json

from demoe.analysis.claims import Context, claim_inputs, load_claims
from demoe.experiments.paper_tables import BLURRY_INPUT

CLAIMS_FILE = CONFIG_DIR / "claims.yaml"
CLAIMS_CONTEXT = Context(results=Path(RESULTS), replicates=REPLICATES)
#: The artifacts this DAG makes that a claim may read; a claim needing another one is
#: "not measurable here" on the scoreboard rather than a missing input.
CLAIM_ARTIFACTS = {
    *(str(e.path(RESULTS, suffix)) for e in EVALUATIONS for suffix in (".json", ".csv")),
    *FIGURE_TARGETS,
    rules.cost_table.output.csv,
    rules.cost_table.output.repeats,
}
CLAIM_INPUTS = [p for p in claim_inputs(load_claims(CLAIMS_FILE), CLAIMS_CONTEXT) if p in CLAIM_ARTIFACTS]
#: The config.json of each model whose evaluations a claim reads (the scoreboard names
#: their weights by SHA-256).
CLAIM_MODELS = sorted(
    {
        paths.model_file(RESULTS, e.experiment, paths.CONFIG_FILE)
        for e in EVALUATIONS
        if e.experiment != BLURRY_INPUT and str(e.path(RESULTS, ".csv")) in CLAIM_INPUTS
    }
)


rule claims_scoreboard:
    input:
        claims=str(CLAIMS_FILE),
        artifacts=CLAIM_INPUTS,
        models=CLAIM_MODELS,
    output:
        csv=paths.table(RESULTS, "claims", "csv"),
        md=paths.table(RESULTS, "claims", "md"),
    params:
        results=lambda wildcards, output: os.path.dirname(os.path.dirname(output.csv)),
        prefix=lambda wildcards, output: output.csv.removesuffix(".csv"),
        reported=str(CONFIG_DIR / "reported"),
        replicates=json.dumps(REPLICATES, sort_keys=True),
        intervals=json.dumps(config["analysis"].get("intervals") or {}, sort_keys=True),
        synthetic="yes" if config["data"]["root"] is None else "no",
        scale=RUN_SCALE.label,
    log:
        paths.log(RESULTS, "tables", "claims"),
    conda:
        CONDA_ENV
    shell:
        "python -m analysis.claims_scoreboard --claims {input.claims:q} --results {params.results:q} "
        "--out {params.prefix:q} --reported {params.reported:q} --replicates {params.replicates:q} "
        "--intervals {params.intervals:q} --synthetic {params.synthetic:q} --scale {params.scale:q} "
        "--models {input.models:q} "
        "> {log:q} 2>&1"
