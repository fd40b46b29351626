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


# --- GPU requests (profiles/slurm, profiles/local-gpu) ---------------------------------
def gpu_request(device):
    """The `gpu` resource of a rule running its torch work on ``device`` (a config value):
    one card for a CUDA device ("cuda", "cuda:1"), none otherwise. Training asks for
    train.resources.gpu instead (workflow/rules/train.smk)."""
    return 1 if str(device).split(":")[0] == "cuda" else 0
