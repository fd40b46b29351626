# Shared set-up: config validation, the facts of this run every rule file reads (results
# folder, fixed checkpoints, datasets present, manifests, the tables and their
# evaluations) and the helpers every rule file uses. Rule files read only these globals
# and each other's outputs through `rules.<name>.output`; the functions live in
# demoe/workflow.py (rule files hold rules only) and every path in demoe/paths.py.
# Rules run `python -m demoe.cli` / `python -m analysis.<script>` from the repository root,
# with the interpreter of the Snakemake that runs them (its folder goes first on PATH), or
# the rule's own env's with --use-conda or a container.
import os
import sys
from pathlib import Path

from snakemake.settings.types import DeploymentMethod
from snakemake.utils import validate

from demoe import paths
from demoe.analysis.report_html import report_category, table_title
from demoe.eval.registry import check_required_files
from demoe.experiments.catalogue import experiment_names, manifests, seed_replicates
from demoe.experiments.paper_tables import check_experiments, needed_evaluations, table_specs
from demoe.experiments.scale import run_scale
from demoe.tasks import AIO_BLUR, AIO_BLUR_OOD, BENCHMARK, OTHER_TASK
from demoe.workflow import (
    available_datasets,
    check_data_roots,
    cores_or_one,
    fixed_checkpoints,
    gpu_request,
    planned_compared,
    rule_shell_prefix,
    register_user_models,
    unplanned_experiments,
    untrained_experiments,
    report_figure as _report_figure,
    report_tables as _report_tables,
)

# The repository root, from this file's place (workflow/rules/), whatever the Snakefile.
REPO = Path(workflow.current_basedir).resolve().parents[1]
validate(config, REPO / "config" / "schema" / "config.schema.yaml")
#: The repository's config folder as the rules' inputs name it: relative to the working
#: directory, so a project moved or copied elsewhere (a cluster's scratch) reruns nothing.
CONFIG_DIR = Path(os.path.relpath(REPO / "config"))

RESULTS = config["results"]
#: The run's scale (demoe/experiments/scale.py): the line every table, figure, the
#: scoreboard and the report state, and what the cost columns describe.
RUN_SCALE = run_scale(config)
CONDA_ENV = "../envs/demoe.yaml"
_ENV_DEPLOYMENT = bool(
    {DeploymentMethod.CONDA, DeploymentMethod.APPTAINER}
    & set(workflow.deployment_settings.deployment_method)
)
shell.prefix(rule_shell_prefix(_ENV_DEPLOYMENT))

#: The user's own models (config models:): each class imported, checked and registered as
#: an architecture, its experiment <key>_aio added to the catalogue (demoe/workflow.py).
# Their modules import from the repository root, as in the rules' `python -m` processes.
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))
USER_MODELS = register_user_models(config.get("models") or {})
#: The compared methods of Table 1 the run trains and evaluates (train.competitors), then
#: the user's models; the others stay the paper's rows only.
COMPARED = planned_compared(config["train"], USER_MODELS)
#: The compared methods' experiments this run does not train.
UNPLANNED = unplanned_experiments(COMPARED)
#: Experiments with fixed weights (not trained): rule import_checkpoint of train.smk.
CHECKPOINTS = fixed_checkpoints(config.get("checkpoints") or {})
#: Seed replicates (train.replicates; none of an experiment with fixed weights): experiment
#: -> count, the experiment itself included. Replicate k of E is the experiment E_rep<k>.
REPLICATES = seed_replicates(config)
check_data_roots(config["data"])
#: The manifests of data.smk, by key (demoe/paths.py).
MANIFESTS = manifests(RESULTS)
# Datasets the manifests hold: all with the synthetic default, else those not dropped.
AIO_DATASETS = available_datasets(AIO_BLUR, config["data"])
OOD_DATASETS = available_datasets(AIO_BLUR_OOD, config["data"])
EVAL_DATASETS = available_datasets(BENCHMARK, config["data"])
# Fig. 8's LOLv2-real NAFNet: trained when its data is there (always in the synthetic default).
LOLV2_AVAILABLE = bool(available_datasets(OTHER_TASK, config["data"]))
#: Experiments without a model in this run (training off without given weights, a dataset
#: left out as optional, a compared method not trained): no training, no evaluation, their
#: table rows named as "not in this run", the figures that need them not drawn.
UNTRAINED = untrained_experiments(
    experiment_names(REPLICATES),
    [*AIO_DATASETS, *(OTHER_TASK if LOLV2_AVAILABLE else ())],
    CHECKPOINTS,
    config["train"]["enabled"],
    UNPLANNED,
    REPLICATES,
)
#: Every experiment of the run: the catalogue's and their seed replicates.
EXPERIMENT_NAMES = [n for n in experiment_names(REPLICATES) if n not in UNTRAINED]
# Seed controls of Figs. 2/7/9: only for the datasets in analysis.similarity.seed_controls.
SEED_CONTROLS = config["analysis"]["similarity"].get("seed_controls", list(AIO_BLUR))

EVAL = config["eval"]
check_required_files(EVAL)  # eval.require_iqa_files (config/paper.yaml): no silent n/a
#: The results tables (demoe/experiments/paper_tables.py) and every evaluation they read,
#: each also for every seed replicate of its experiment.
TABLE_SPECS = table_specs(EVAL["tlc"]["experts"], compared=COMPARED, untrained=UNTRAINED)
EVALUATIONS = needed_evaluations(TABLE_SPECS.values(), EVAL_DATASETS, REPLICATES)
check_experiments(EVALUATIONS, REPLICATES)

# Threads of the rules that use every core (`threads: workflow.cores` fails where no
# --cores is given, as in `snakemake --report` and `--lint`).
all_cores = lambda wildcards: cores_or_one(workflow)
# The report's table pages (rule all) and a figure PNG flagged for the report (figures).
report_tables = lambda: _report_tables(RESULTS, TABLE_SPECS, workflow.rules)
report_figure = lambda name: _report_figure(REPO, RESULTS, name)

# The figures (demoe/analysis/figures.py): the facts of this run they are drawn from, the
# rules of figures.smk, and their files for rule all and the claims.
from demoe.analysis.figures import FigureRun, figure_targets

FIGURE_RUN = FigureRun(
    results=RESULTS,
    aio=AIO_DATASETS,
    ood=OOD_DATASETS,
    analysis=config["analysis"],
    checkpoints=CHECKPOINTS,
    seed_controls=SEED_CONTROLS,
    lolv2_available=LOLV2_AVAILABLE,
    untrained=UNTRAINED,
)
#: Every file of the figures this run draws (PDF, PNG, and the CSVs beside Figs. 7-9, 11).
FIGURE_TARGETS = figure_targets(FIGURE_RUN)
