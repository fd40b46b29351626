"""demoe/workflow.py: the functions the rule files call at DAG build."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from demoe import paths
from demoe.errors import ConfigError
from demoe.experiments.catalogue import EXPERIMENTS, SEED_CONTROL_SUFFIX, manifests
from demoe.tasks import AIO_BLUR
from demoe.workflow import (
    TrainJobs,
    available_datasets,
    fixed_checkpoints,
    gpu_request,
    report_tables,
    rule_shell_prefix,
)

REPO = Path(__file__).resolve().parents[1]
RULES = REPO / "workflow" / "rules"


def test_rule_files_hold_no_function_definitions():
    # `snakemake --lint`: "Mixed rules and functions in same snakefile" (eval.smk is being
    # moved on its own branch)
    for smk in RULES.glob("*.smk"):
        if smk.name == "eval.smk":
            continue
        assert "def " not in smk.read_text(encoding="utf-8"), smk.name


def test_rules_run_the_interpreter_of_snakemake():
    prefix = rule_shell_prefix(False, "/v env/bin/python")
    assert prefix == "set -euo pipefail; export PATH='/v env/bin':\"$PATH\"; "
    assert rule_shell_prefix(True, "/v/bin/python") == "set -euo pipefail; "  # conda/container
    assert "{{x}}" in rule_shell_prefix(False, "/{x}/python")  # braces survive formatting


def test_the_venvs_snakemake_called_by_path_runs_rules_with_its_python(tmp_path):
    """A bare PATH (no environment activated): the rules still find torch."""
    snakemake = Path(sys.executable).parent / "snakemake"
    site = tmp_path / "site.yaml"
    site.write_text(f"results: {tmp_path / 'results'}\n", encoding="utf-8")
    target = Path(paths.aio_manifest(str(tmp_path / "results"), "train"))
    run = subprocess.run(
        [
            str(snakemake),
            str(target),
            "--cores",
            "1",
            "--configfile",
            "config/test.yaml",
            str(site),
        ],
        cwd=REPO,
        env={"PATH": "/usr/bin:/bin", "HOME": os.environ.get("HOME", "/root")},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    assert target.is_file()


def test_fixed_checkpoints(tmp_path):
    weights = tmp_path / "w.pth"
    weights.touch()
    assert fixed_checkpoints({"demoe": str(weights)}) == {"demoe": str(weights.resolve())}
    with pytest.raises(ConfigError, match="not an experiment"):
        fixed_checkpoints({"nope": str(weights)})
    with pytest.raises(ConfigError, match="no checkpoint"):
        fixed_checkpoints({"demoe": str(tmp_path / "missing.pth")})


def test_gpu_request_and_datasets():
    assert [gpu_request(d) for d in ("cuda", "cuda:1", "cpu", "mps")] == [1, 1, 0, 0]
    data = {"root": "/data", "roots": {"gopro": "GoPro", "dpdd": None}}
    assert available_datasets(["gopro", "dpdd"], data) == ["gopro"]
    assert available_datasets(["gopro", "dpdd"], {**data, "root": None}) == ["gopro", "dpdd"]


def test_report_tables_lists_claims_only_when_a_rule_writes_it():
    rule = SimpleNamespace(output=["r/tables/claims.md"])
    assert report_tables("r", ["table1"], []) == [
        "r/report/tables/table1.html",
        "r/report/tables/cost.html",
        "r/report/tables/table4_aioblur_distribution.html",
    ]
    assert report_tables("r", [], [rule])[-1] == "r/report/tables/claims.html"


def test_train_jobs_on_the_default_config():
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text(encoding="utf-8"))
    jobs = TrainJobs(config["train"], "res", manifests("res"), False, AIO_BLUR[:1], {"demoe": 2})
    models = jobs.default_models()
    assert "res/models/demoe_rep1/model.safetensors" in models  # the seed replicate too
    assert "res/models/nafnet_lolv2_real/model.safetensors" not in models  # no LOLv2 data
    assert f"res/models/nafnet_{AIO_BLUR[0]}{SEED_CONTROL_SUFFIX}/model.safetensors" in models
    assert f"res/models/nafnet_{AIO_BLUR[1]}{SEED_CONTROL_SUFFIX}/model.safetensors" not in models
    assert jobs.launcher() == "python"
    stage2 = next(n for n, e in EXPERIMENTS.items() if e.init_from)
    assert jobs.init_model(SimpleNamespace(experiment=stage2))[0].endswith("model.safetensors")
    # the bookkeeping keys are blanked in the compared param, given in the other one
    wildcards = SimpleNamespace(experiment="demoe")
    assert '"log_every": null' in jobs.settings(wildcards)
    assert any(
        a.startswith("run.log_every=") for a in shlex.split(jobs.bookkeeping(wildcards, None))
    )
