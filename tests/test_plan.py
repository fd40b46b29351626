"""`demoe plan`: the bill of a dry run, by rule and per training job."""

from __future__ import annotations

import pytest
from conftest import REPO

from demoe.errors import ConfigError
from demoe.plan import bill, parse_dry_run, planned_jobs, render, trainings

DRY_RUN = """\
Building DAG of jobs...
Job stats:
job            count
-----------  -------
train_model        2

[Mon Dec  7 09:29:05 2026]
rule train_model:
    input: a.jsonl
    output: results/models/demoe/model.safetensors
    jobid: 3
    wildcards: experiment=demoe
    resources: tmpdir=/tmp, gpu=4, nvidia_gpu=4, runtime=4320, mem_mb=64000, mem=64 GB
[Mon Dec  7 09:29:05 2026]
rule train_model:
    output: results/models/nafnet_gopro/model.safetensors
    wildcards: experiment=nafnet_gopro
    threads: 8
    resources: tmpdir=/tmp, gpu=1, runtime=60
[Mon Dec  7 09:29:05 2026]
localrule prepare_train_store:
    output: results/data/store/train/index.json
    resources: tmpdir=/tmp, runtime=120, disk_mb=85000
[Mon Dec  7 09:29:05 2026]
localrule all:
    input: x
    jobid: 0
Job stats:
job            count
"""


def test_bill_adds_gpu_hours_cpu_hours_and_disk_by_rule() -> None:
    jobs = parse_dry_run(DRY_RUN)
    assert [j.rule for j in jobs] == ["train_model", "train_model", "prepare_train_store", "all"]
    table = bill(jobs).set_index("rule")
    # 4 GPUs × 72 h + 1 GPU × 1 h; CPU: 1 thread × 72 h + 8 threads × 1 h
    assert table.loc["train_model", "gpu_hours"] == pytest.approx(289.0)
    assert table.loc["train_model", "cpu_hours"] == pytest.approx(80.0)
    assert table.loc["prepare_train_store", "disk_gb"] == pytest.approx(85.0)
    assert table.loc["total", "jobs"] == 4 and table.loc["total", "gpu_hours"] == pytest.approx(289)
    train = trainings(jobs)
    assert list(train["experiment"]) == ["demoe", "nafnet_gopro"]
    assert "checkpoints:" in render(jobs)


def test_plan_of_the_tiny_config_and_a_refused_plan(tmp_path) -> None:
    site = tmp_path / "site.yaml"
    site.write_text(f"results: {tmp_path / 'results'}\n", encoding="utf-8")
    jobs = planned_jobs(["config/test.yaml", str(site)], directory=REPO)
    assert any(j.rule == "train_model" for j in jobs)
    assert trainings(jobs)["gpus"].eq(0).all()  # the tiny config trains on the CPU
    bad = tmp_path / "bad.yaml"
    bad.write_text("results: 3\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="snakemake refused the plan"):
        planned_jobs([str(bad)], directory=REPO)
    with pytest.raises(ConfigError, match="no Snakefile"):
        planned_jobs([], directory=tmp_path)
