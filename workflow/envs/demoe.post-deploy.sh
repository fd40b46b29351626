#!/usr/bin/env bash
# Snakemake runs this in the conda env of demoe.yaml right after creating it: pyiqa without
# its dependencies, as `make setup` installs requirements/nodeps.txt (keep the pins equal;
# tests/test_eval_iqa.py checks them).
set -euo pipefail
python -m pip install --no-deps pyiqa==0.1.16
