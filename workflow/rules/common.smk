# Shared set-up: config validation, paths, fixed checkpoints, data roots, and the helpers
# every rule file uses. The functions live in demoe/workflow.py (rule files hold rules only).
# Rules run `python -m demoe.cli` / `python -m analysis.<script>` from the repository root,
# with the `python` of the active environment (the .venv that make puts on PATH, or the
# rule's conda env with --use-conda).
from pathlib import Path

from snakemake.logging import logger
from snakemake.settings.types import DeploymentMethod
from snakemake.utils import validate

from demoe.analysis.report_html import report_category, table_title
from demoe.workflow import (
    check_data_roots,
    cores_or_one,
    fixed_checkpoints,
    gpu_request,
    python_on_path_note,
    report_figure as _report_figure,
    report_tables as _report_tables,
)

# The repository root, from this file's place (workflow/rules/), whatever the Snakefile.
REPO = Path(workflow.current_basedir).resolve().parents[1]
validate(config, REPO / "config" / "schema" / "config.schema.yaml")

RESULTS = config["results"]
CONDA_ENV = "../envs/demoe.yaml"
PYTHON_NOTE = python_on_path_note(
    DeploymentMethod.CONDA in workflow.deployment_settings.deployment_method
)
if PYTHON_NOTE:
    logger.warning(PYTHON_NOTE)

#: Experiments with fixed weights (not trained): rule import_checkpoint of train.smk.
CHECKPOINTS = fixed_checkpoints(config.get("checkpoints") or {})
check_data_roots(config["data"])

# Threads of the rules that use every core (`threads: workflow.cores` fails where no
# --cores is given, as in `snakemake --report` and `--lint`).
all_cores = lambda wildcards: cores_or_one(workflow)
# The report's table pages (rule all) and a figure PNG flagged for the report (figures).
report_tables = lambda: _report_tables(RESULTS, TABLE_SPECS, workflow.rules)
report_figure = lambda name: _report_figure(REPO, RESULTS, name)
