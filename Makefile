# demoe — two commands on a fresh machine: `make reproduce` and `make test`.
# Everything installs into .venv from requirements/lock.txt (exact pins; torch and
# torchvision as one matching pair from PyPI, because open_clip_torch needs torchvision).

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
CORES ?= all
CONFIG ?= config/config.yaml
# The rules run `python` from PATH (demoe/workflow.py): the environment's, put first here.
SNAKEMAKE := PATH="$(abspath $(BIN)):$$PATH" $(BIN)/snakemake

.PHONY: setup lock lock-check reproduce test test-slurm lint format dag-dry-run report notebooks gallery tensorboard clean-results slurm-cluster

setup: $(STAMP)

$(STAMP): requirements/lock.txt requirements/nodeps.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements/lock.txt
	$(BIN)/python -m pip install --quiet --no-deps -r requirements/nodeps.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $@

# One source of truth for every platform: uv resolves runtime.in + dev.in once for Linux
# (x86-64, aarch64), macOS and Windows at the same time, writing environment markers
# (torch's nvidia-*/triton wheels only where torch asks for them) and sha256 hashes; the
# conda env files are generated from the result. Existing pins are kept unless a .in changes.
UV_COMPILE := $(BIN)/uv pip compile --quiet --universal --generate-hashes --python-version 3.11 \
	--custom-compile-command "make lock" requirements/runtime.in requirements/dev.in
lock: setup
	$(UV_COMPILE) -o requirements/lock.txt
	$(BIN)/python requirements/conda_env.py

# The lock resolves and finds a wheel (or sdist) for every pin on each platform (tests/test_lock.py).
lock-check: setup
	$(BIN)/pytest -q tests/test_lock.py

# --rerun-incomplete: after an interrupted run (SIGKILL, OOM, a scheduler's time limit) the
# jobs it left incomplete run again (training resumes from its checkpoints) instead of
# stopping on IncompleteFilesException.
reproduce: setup
	$(SNAKEMAKE) --cores $(CORES) --configfile $(CONFIG) --rerun-incomplete
	@echo "Claims scoreboard (the paper's claims tested on this run): $(RESULTS)/tables/claims.md"

report: setup
	$(SNAKEMAKE) --configfile $(CONFIG) --report results/report.html \
		--report-stylesheet workflow/report/style.css

# The exploration notebooks in Jupyter Lab, reading the run's results folder
# (RESULTS=results; `make notebooks RESULTS=/path/to/results` for another run). Each is a
# jupytext percent file, notebooks/NN_*.py: jupytext's Jupyter extension opens it as a
# notebook and saves it back as the same .py, without outputs (no .ipynb). The overrides.d
# file makes a double click on a .py open it so in this venv's Jupyter Lab (a default your
# own Jupyter Lab settings override); root needs --allow-root.
JUPYTEXT_VIEWER := $(VENV)/share/jupyter/lab/settings/overrides.d/demoe-jupytext.json
notebooks: setup
	mkdir -p $(dir $(JUPYTEXT_VIEWER))
	echo '{"@jupyterlab/docmanager-extension:plugin": {"defaultViewers": {"python": "Jupytext Notebook"}}}' > $(JUPYTEXT_VIEWER)
	DEMOE_RESULTS="$(abspath $(RESULTS))" $(BIN)/jupyter lab \
		$$( [ "$$(id -u)" = 0 ] && echo --allow-root ) notebooks/

# The README gallery: the PNG figures of a finished default run (RESULTS=results).
RESULTS ?= results
gallery:
	mkdir -p docs/gallery
	cp $(RESULTS)/figures/*.png docs/gallery/
	cp $(RESULTS)/tables/table1_aio_deblurring.md $(RESULTS)/tables/table4_aioblur_distribution.md \
		$(RESULTS)/tables/claims.md docs/gallery/

# TensorBoard on the training logs of a run (RUN=<results folder>, default RESULTS): every
# experiment's <results>/checkpoints/<experiment>/tensorboard (demoe.paths.TENSORBOARD_DIR),
# written by rank 0 while it trains; open the printed address in a browser.
RUN ?= $(RESULTS)
tensorboard: setup
	$(BIN)/tensorboard --logdir "$(RUN)/checkpoints"

# ruff on the Python code, `snakemake --lint` on the workflow (default config): rule files
# hold rules only, their functions are in demoe/workflow.py.
lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(SNAKEMAKE) --lint --configfile $(CONFIG)

format: setup
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

dag-dry-run: setup
	$(SNAKEMAKE) -n --quiet --configfile $(CONFIG)

# The Debian packages of the local one-node SLURM cluster that tests/test_slurm.py starts
# (tools/slurm/local_cluster.sh; root + apt-get). Where they cannot be installed, the
# SLURM tests are skipped with the reason.
slurm-cluster:
	bash tools/slurm/local_cluster.sh install || \
		echo "make slurm-cluster: SLURM not installed; tests/test_slurm.py will be skipped"

# `make test` is the README's test command, on every core (pytest-xdist; a module's tests
# stay on one worker, so its module fixtures are built once; the end-to-end DAG starts
# first: tests/conftest.py); the DAG through a real local SLURM cluster (tests marked
# `slurm`, ~6 min) runs apart, in `make test-slurm`, which CI runs too.
test: setup lint dag-dry-run
	$(BIN)/pytest -m "not slurm" -n auto --dist loadfile

test-slurm: setup slurm-cluster
	$(BIN)/pytest -m slurm tests/test_slurm.py

clean-results:
	rm -rf results/data results/models results/eval results/tables results/figures results/logs
