# Shared set-up: config validation, paths, and the environment every rule's shell sees.
import os
import sys
from pathlib import Path

from snakemake.utils import validate

# The repository root, from this file's place (workflow/rules/), whatever the Snakefile.
REPO = Path(workflow.current_basedir).resolve().parents[1]
validate(config, REPO / "config" / "schema" / "config.schema.yaml")

RESULTS = config["results"]
# Shell commands run `python` from the active environment (.venv or a conda env);
# the repository root on PYTHONPATH makes `demoe` and `analysis/` importable in both.
os.environ["PYTHONPATH"] = os.pathsep.join(
    p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p
)
os.environ["PATH"] = os.pathsep.join((str(Path(sys.executable).parent), os.environ["PATH"]))
CONDA_ENV = "../envs/demoe.yaml"


def fixed_checkpoints(mapping):
    """``checkpoints:`` (experiment -> file of fixed weights), checked at DAG build."""
    from demoe.errors import ConfigError
    from demoe.train.experiments import EXPERIMENTS

    for name, path in mapping.items():
        if name not in EXPERIMENTS:
            raise ConfigError(
                f"checkpoints.{name}: not an experiment of demoe/train/experiments.py "
                f"({', '.join(EXPERIMENTS)})"
            )
        if not Path(path).exists():
            raise ConfigError(f"checkpoints.{name}: no checkpoint at {path}")
    return {name: str(Path(path).resolve()) for name, path in mapping.items()}


#: Experiments with fixed weights (not trained): rule import_checkpoint of train.smk.
CHECKPOINTS = fixed_checkpoints(config.get("checkpoints") or {})


def check_data_roots(data):
    """Fail at DAG build (also with -n) when a required dataset folder is missing.

    The build rule would report it too, but only in its log file; here the message reaches
    the console and names the config key to fix.
    """
    if data["root"] is None:  # the embedded synthetic default, written by the DAG
        return
    from demoe.data.build import resolve_roots
    from demoe.errors import ConfigError

    missing = [
        f"data.roots.{name}: {path} is not a folder"
        for name, path in resolve_roots(data["root"], data["roots"]).items()
        if name not in data["optional"] and not Path(path).is_dir()
    ]
    if missing:
        raise ConfigError(
            f"datasets missing under data.root={data['root']} (fix data.root or data.roots.<name>,"
            " or list the dataset under data.optional): " + "; ".join(missing)
        )


check_data_roots(config["data"])


# --- GPU requests (profiles/slurm, profiles/local-gpu) ---------------------------------
def gpu_request(device):
    """The `gpu` resource of a rule running its torch work on ``device`` (a config value):
    one card for a CUDA device ("cuda", "cuda:1"), none otherwise. Training asks for
    train.resources.gpu instead (workflow/rules/train.smk)."""
    return 1 if str(device).split(":")[0] == "cuda" else 0


# --- issue 15.2 (report): report categories by paper section, the report's table pages,
# and the threads of rules that use every core (`threads: workflow.cores` fails where no
# --cores is given, as in `snakemake --report`).
from snakemake.exceptions import WorkflowError

from demoe.analysis.report_html import caption_title, report_category, table_title


def all_cores(wildcards):
    """The --cores total, or 1 where none is set (report and lint runs)."""
    try:
        return workflow.cores
    except WorkflowError:
        return 1


def report_tables():
    """The table pages of the report, made by report_table for TABLE_SPECS (eval.smk), cost,
    Table 4 and the claims scoreboard when some job writes <results>/tables/claims.md."""
    names = [*TABLE_SPECS, "cost", "table4_aioblur_distribution"]
    claims = f"{RESULTS}/tables/claims.md"
    if any(str(f) == claims for r in workflow.rules for f in r.output):
        names.append("claims")
    return [f"{RESULTS}/report/tables/{name}.html" for name in names]


def report_figure(name):
    """A figure's PNG for the report: its caption (workflow/report/<name>.rst), its paper
    section, and its caption's title as the label the report lists it by."""
    caption = REPO / "workflow" / "report" / f"{name}.rst"
    return report(
        f"{RESULTS}/figures/{name}.png",
        caption=str(caption),
        category=report_category(name),
        subcategory="Figures",
        labels={"figure": caption_title(caption.read_text(encoding="utf-8"))},
    )
