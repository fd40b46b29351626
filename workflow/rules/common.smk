# Shared set-up: config validation, paths, and the environment every rule's shell sees.
import os
import sys
from pathlib import Path

from snakemake.utils import validate

validate(config, Path(workflow.basedir) / "config" / "schema" / "config.schema.yaml")

RESULTS = config["results"]
REPO = Path(workflow.basedir)
# Shell commands run `python` from the active environment (.venv or a conda env);
# the repository root on PYTHONPATH makes `demoe` and `analysis/` importable in both.
os.environ["PYTHONPATH"] = os.pathsep.join(
    p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p
)
os.environ["PATH"] = os.pathsep.join((str(Path(sys.executable).parent), os.environ["PATH"]))
CONDA_ENV = "../envs/demoe.yaml"
