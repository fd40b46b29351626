"""SLURM for real: a DAG target through profiles/slurm on a local one-node cluster, and the
GPU requests of every rule that runs on CUDA under config/paper.yaml.

The cluster is tools/slurm/local_cluster.sh (munge, MariaDB + slurmdbd, slurmctld, slurmd,
a fake GPU GRES). The `slurm` tests start it when it is not running (and stop it again
afterwards), and are skipped with the script's reason where it cannot start (packages
missing: `make slurm-cluster`; not root). The target: data -> the two trainings of Fig. 11
(stage 1 `baseline_aio`, then `demoe` initialised from it; paper Sec. 3.4), each launched
with `torchrun --nproc-per-node 2` (gloo on CPU) inside one SLURM job asking for 2 GPUs
-> Fig. 11 (expert correlation).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
CLUSTER = REPO / "tools" / "slurm" / "local_cluster.sh"
TRAIN_GPUS = 2  # per training job: torchrun --nproc-per-node 2 in one SLURM job
FIG11 = "figures/fig11_expert_correlation"
# The SLURM jobs of the target, by rule (the plugin's log folder names them).
EXPECTED_JOBS = {
    "synth_aioblur": 1,
    "build_aioblur": 1,
    "prepare_train_store": 1,
    "train_model": 2,
    "fig11_expert_correlation": 1,
}


def cluster(command: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["bash", str(CLUSTER), command], env=env, capture_output=True, text=True, timeout=600
    )


@pytest.fixture(scope="module")
def slurm_env() -> Iterator[dict[str, str]]:
    """The environment of a running local cluster (SLURM_CONF set)."""
    pytest.importorskip("snakemake_executor_plugin_slurm", reason="pip install -r requirements")
    state = os.environ.get("DEMOE_SLURM_DIR", "/tmp/demoe-slurm")
    env = {
        **os.environ,
        "DEMOE_SLURM_DIR": state,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
    }
    was_running = cluster("status", env).returncode == 0
    if not was_running:
        start = cluster("start", env)
        if start.returncode != 0:
            cluster("stop", env)  # whatever did start
            reason = (start.stderr.strip().splitlines() or ["no message"])[-1]
            pytest.skip(f"the local SLURM cluster cannot start: {reason}")
    env["SLURM_CONF"] = f"{state}/etc/slurm.conf"
    yield env
    if not was_running:
        cluster("stop", env)


@pytest.fixture(scope="module")
def slurm_run(slurm_env, tmp_path_factory) -> dict:
    """Fig. 11 built through `--profile profiles/slurm` (config/test.yaml + DDP training)."""
    tmp = tmp_path_factory.mktemp("slurm")
    results = tmp / "results"
    overrides = tmp / "slurm.yaml"
    overrides.write_text(
        yaml.safe_dump(
            {
                "train": {
                    "nproc_per_node": TRAIN_GPUS,
                    "resources": {"gpu": TRAIN_GPUS, "threads": 2, "runtime": 10, "mem_mb": 2000},
                    # 2 crops per rank: the router's BatchNorm needs more than one.
                    "settings": {"data": {"batch_size": 2 * TRAIN_GPUS}},
                }
            }
        )
    )
    cmd = [
        sys.executable,
        "-m",
        "snakemake",
        "--profile",
        "profiles/slurm",
        "--configfile",
        "config/test.yaml",
        str(overrides),
        "--config",
        f"results={results}",
        "--slurm-logdir",
        str(tmp / "slurm_logs"),
        "--slurm-init-seconds-before-status-checks",
        "5",
        "--slurm-keep-successful-logs",
        "--retries",
        "0",
        # One job's threads may not exceed the test node's CPUs (a larger request pends
        # forever with reason PartitionConfig, e.g. prepare_train_store's 8 threads).
        "--max-threads",
        str(os.cpu_count()),
        str(results / f"{FIG11}.pdf"),
    ]
    run = subprocess.run(cmd, cwd=REPO, env=slurm_env, capture_output=True, text=True, timeout=1800)
    assert run.returncode == 0, run.stderr[-6000:]
    jobs = re.findall(r"submitted with SLURM jobid (\d+) \(log: (\S+)\)", run.stderr)
    return {"results": results, "jobs": jobs, "logdir": tmp / "slurm_logs", "env": slurm_env}


@pytest.mark.slurm
@pytest.mark.slow
def test_target_is_built_by_slurm_jobs(slurm_run):
    results = slurm_run["results"]
    for suffix in ("pdf", "png"):
        assert (results / f"{FIG11}.{suffix}").stat().st_size > 1000
    rules = [Path(log).relative_to(slurm_run["logdir"]).parts[0] for _, log in slurm_run["jobs"]]
    counts = {rule.removeprefix("rule_"): rules.count(rule) for rule in set(rules)}
    assert counts == EXPECTED_JOBS
    for job_id, log in slurm_run["jobs"]:
        # The job ran `snakemake --executor slurm-jobstep` on the node, which wrote here.
        assert Path(log).name == f"{job_id}.log"
        text = Path(log).read_text()
        assert "Finished jobid" in text and "steps (100%) done" in text, log


@pytest.mark.slurm
@pytest.mark.slow
def test_accounting_shows_the_jobs_with_their_partitions_and_gpus(slurm_run):
    ids = [job_id for job_id, _ in slurm_run["jobs"]]
    sacct = subprocess.run(
        ["sacct", "-X", "-P", "-n", "-j", ",".join(ids), "-o", "JobID,State,Partition,AllocTRES"],
        env=slurm_run["env"],
        capture_output=True,
        text=True,
        check=True,
    )
    rows = {r.split("|")[0]: r.split("|")[1:] for r in sacct.stdout.splitlines() if r}
    assert sorted(rows) == sorted(ids)
    for job_id, log in slurm_run["jobs"]:
        state, partition, tres = rows[job_id]
        assert state == "COMPLETED", (job_id, log, state)
        if "/rule_train_model/" in log:
            # Picked by profiles/slurm/partitions.yaml from the `gpu` resource.
            assert partition == "gpu" and f"gres/gpu={TRAIN_GPUS}" in tres, (log, tres)
        else:
            assert partition == "cpu" and "gres/gpu" not in tres, (log, tres)


@pytest.mark.slurm
@pytest.mark.slow
def test_training_ran_with_torchrun_ddp_inside_its_job(slurm_run):
    results = slurm_run["results"]
    for experiment in ("baseline_aio", "demoe"):
        config = json.loads((results / "models" / experiment / "config.json").read_text())
        assert config["metadata"]["world_size"] == TRAIN_GPUS
    train_logs = [log for _, log in slurm_run["jobs"] if "/rule_train_model/" in log]
    for log in train_logs:
        assert f"torchrun --standalone --nproc-per-node {TRAIN_GPUS}" in Path(log).read_text()


# --- GPU requests under config/paper.yaml (no cluster needed) -----------------------------


def paper_rules() -> list:
    """The rules of the workflow parsed with config/paper.yaml (no DAG built: the data root
    is left to the synthetic default, so no dataset is needed)."""
    from snakemake.api import SnakemakeApi
    from snakemake.settings.enums import Quietness
    from snakemake.settings.types import ConfigSettings, OutputSettings, ResourceSettings

    with SnakemakeApi(OutputSettings(quiet={Quietness.ALL})) as api:
        workflow = api.workflow(
            resource_settings=ResourceSettings(cores=4),
            config_settings=ConfigSettings(
                configfiles=[REPO / "config" / "paper.yaml"],
                config={
                    "data": {"root": None},
                    "eval": {"require_iqa_files": False},
                    "analysis": {"clip": {"allow_random": True}},  # no CLIP weights here
                },
            ),
            snakefile=REPO / "Snakefile",
            workdir=REPO,
        )
        # Snakemake's parsed rules (the API has no public accessor for their resources).
        return list(workflow._workflow.rules)


def rule_device(rule) -> str | None:
    """The torch device a rule's command runs on: its `device` param or `--device X` in
    its command or in one of its string params."""
    params = {k: v for k, v in rule.params.items() if not callable(v)}
    if isinstance(params.get("device"), str):
        return params["device"]
    texts = [rule.shellcmd or "", *(v for v in params.values() if isinstance(v, str))]
    found = [m for t in texts for m in re.findall(r"--device (\S+)", t) if "{" not in m]
    return found[0] if found else None


def gpu(rule) -> int:
    value = rule.resources.get("gpu")
    return int(getattr(value, "value", value) or 0)


@pytest.fixture(scope="module")
def rules() -> dict:
    return {rule.name: rule for rule in paper_rules()}


def test_every_rule_on_cuda_under_paper_config_requests_a_gpu(rules):
    cuda = {name for name, rule in rules.items() if (rule_device(rule) or "").startswith("cuda")}
    # Evaluation and the feature/restoration figures (Figs. 4, 5, 13, 14) run on CUDA.
    assert {"evaluate_demoe", "evaluate_blurry_input", "fig04_dataset_tsne"} <= cuda
    assert {"fig05_qualitative", "fig13_encoder_tsne"} <= cuda
    assert "fig14_qualitative_ood" in cuda
    assert {name for name in cuda if gpu(rules[name]) < 1} == set()
    # Table 1's runtimes are timed on a GPU, as the paper's (cost.device in config/paper.yaml).
    assert "cost_table" in cuda
    # Rules without a torch device, or on the CPU, do not hold a card (training takes its
    # GPUs from train.resources: the next test).
    host = {n for n, rule in rules.items() if rule_device(rule) in (None, "cpu")} - {"train_model"}
    assert {"build_aioblur", "results_table", "claims_scoreboard"} <= host
    assert all(gpu(rules[name]) == 0 for name in host)


def test_training_requests_one_gpu_per_torchrun_process_under_paper_config(rules):
    paper = yaml.safe_load((REPO / "config" / "paper.yaml").read_text())["train"]
    assert gpu(rules["train_model"]) == paper["resources"]["gpu"] == paper["nproc_per_node"] > 1


def test_profiles_leave_gpu_counts_to_the_config_and_fit_them(rules):
    most = max(gpu(rule) for rule in rules.values())
    slurm = yaml.safe_load((REPO / "profiles" / "slurm" / "config.yaml").read_text())
    per_rule = [slurm.get("default-resources") or {}, *(slurm.get("set-resources") or {}).values()]
    assert not any("gpu" in r or "nvidia_gpu" in r for r in per_rule)
    partitions = yaml.safe_load((REPO / slurm["slurm-partition-config"]).read_text())
    limits = [p.get("max_gpu", 0) for p in partitions["partitions"].values()]
    assert 0 in limits and max(limits) >= most
    local = yaml.safe_load((REPO / "profiles" / "local-gpu" / "config.yaml").read_text())
    # Snakemake silently scales a request above this cap down to it.
    assert local["resources"]["gpu"] >= most
