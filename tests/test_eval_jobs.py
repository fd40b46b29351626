"""One evaluation job per experiment (demoe/experiments/eval_jobs.py, workflow/rules/eval.smk):
the jobs cover the plan exactly, their `demoe eval-plan` arguments are those of
`demoe eval`, and the DAG schedules one job per experiment, only the needed one for a
single evaluation target."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from snakemake.utils import update_config

from demoe.cli import build_parser
from demoe.experiments.catalogue import manifests, seed_replicates
from demoe.experiments.eval_jobs import (
    MIN_RUNTIME_MIN,
    RUNTIME_PER_EVALUATION_MIN,
    EvalJob,
    eval_arguments,
    eval_jobs,
)
from demoe.experiments.paper_tables import BLURRY_INPUT, Evaluation, needed_evaluations, table_specs
from demoe.tasks import BENCHMARK
from demoe.workflow import planned_compared

REPO = Path(__file__).resolve().parents[1]
RESULTS = "res"
MANIFESTS = manifests(RESULTS)
NIQE = "res/data/niqe_params.npz"


@pytest.fixture(scope="module")
def eval_cfg() -> dict:
    return yaml.safe_load((REPO / "config" / "config.yaml").read_text())["eval"]


@pytest.fixture(scope="module")
def evaluations(eval_cfg) -> list[Evaluation]:
    return needed_evaluations(table_specs(eval_cfg["tlc"]["experts"]).values(), BENCHMARK)


def _parsed(evaluation: Evaluation, eval_cfg: dict, source=("--model", "m")):
    """One evaluation's arguments as `demoe eval` parses them."""
    args = eval_arguments(evaluation, RESULTS, MANIFESTS, eval_cfg, NIQE)
    return build_parser().parse_args(["eval", *source, *args])


def test_jobs_cover_the_plan_once_one_per_experiment(evaluations):
    jobs = eval_jobs([*evaluations, *evaluations[:3]])  # duplicates are dropped
    order = [j.experiment for j in jobs]
    grouped = sorted(evaluations, key=lambda e: order.index(e.experiment))
    assert [e for j in jobs for e in j.evaluations] == grouped  # plan order within a job
    assert (
        len({j.experiment for j in jobs}) == len(jobs) == len({e.experiment for e in evaluations})
    )
    assert all(re.fullmatch(r"evaluate_[a-z0-9_]+", j.rule_name) for j in jobs)
    outputs = [p for j in jobs for p in j.outputs(RESULTS)]
    assert len(outputs) == len(set(outputs)) == 2 * len(evaluations)
    assert {str(e.path(RESULTS, ".json")) for e in evaluations} <= set(outputs)


def test_arguments_are_those_of_demoe_eval(eval_cfg):
    auto = _parsed(Evaluation("demoe", "gopro", "auto"), eval_cfg)
    assert auto.manifest == MANIFESTS["test"] and auto.dataset == ["gopro"]
    assert auto.task == "auto" and auto.tlc is None and not auto.align_ecc
    assert auto.metrics == eval_cfg["metrics"] and auto.niqe_params is None
    assert auto.out == "res/eval/demoe/gopro/auto.csv"
    assert auto.summary == "res/eval/demoe/gopro/auto.json"
    tlc = _parsed(Evaluation("demoe", "realblur_j", "auto", "global_motion+defocus"), eval_cfg)
    assert tlc.tlc == "global_motion,defocus" and tlc.align_ecc
    assert tlc.tlc_train_size == eval_cfg["tlc"]["train_size"]
    assert tlc.out == "res/eval/demoe/realblur_j/auto_tlc-global_motion+defocus.csv"
    ood = _parsed(Evaluation("demoe", "real_lolblur", "low_light"), eval_cfg)
    assert ood.manifest == MANIFESTS["ood"] and ood.task == "low_light"
    assert ood.metrics == eval_cfg["no_reference_metrics"] and ood.niqe_params == NIQE
    weights = {**eval_cfg, "lpips_weights": "lin.pth", "save_images": True}
    saved = _parsed(Evaluation("demoe", "dpdd", "auto"), weights)
    assert (
        saved.lpips_weights == "lin.pth" and saved.save_images == "res/eval/demoe/dpdd/auto_images"
    )


def test_job_inputs_plan_and_runtime(eval_cfg, evaluations):
    jobs = {j.experiment: j for j in eval_jobs(evaluations)}
    demoe = jobs["demoe"]
    inputs = demoe.inputs(RESULTS, MANIFESTS, eval_cfg, NIQE)
    assert inputs["weights"] == "res/models/demoe/model.safetensors"
    assert inputs["config"] == "res/models/demoe/config.json"
    assert inputs["manifests"] == [MANIFESTS["test"], MANIFESTS["ood"]] and inputs["niqe"] == NIQE
    assert demoe.source(RESULTS) == "--model res/models/demoe"
    plan = json.loads(demoe.plan(RESULTS, MANIFESTS, eval_cfg, NIQE))
    assert plan == [
        eval_arguments(e, RESULTS, MANIFESTS, eval_cfg, NIQE) for e in demoe.evaluations
    ]
    assert demoe.runtime == RUNTIME_PER_EVALUATION_MIN * len(demoe.evaluations) > MIN_RUNTIME_MIN
    # a per-dataset NAFNet reads only its own manifest, no NIQE model
    gopro = jobs["nafnet_gopro"].inputs(RESULTS, MANIFESTS, eval_cfg, NIQE)
    assert gopro["manifests"] == [MANIFESTS["test"]] and "niqe" not in gopro
    assert jobs["nafnet_gopro"].runtime == MIN_RUNTIME_MIN
    # the blurry input: no model
    blurry = jobs[BLURRY_INPUT]
    assert "weights" not in blurry.inputs(RESULTS, MANIFESTS, eval_cfg, NIQE)
    assert blurry.source(RESULTS) == "--blurry-input"
    for args in json.loads(blurry.plan(RESULTS, MANIFESTS, eval_cfg, NIQE)):
        parsed = build_parser().parse_args(["eval", "--blurry-input", *args])
        assert parsed.task == "auto" and parsed.tlc is None


def test_model_paths_are_quoted_for_the_shell():
    job = EvalJob("demoe", (Evaluation("demoe", "gopro", "auto"),))
    assert job.source("a b;$(x)") == "--model 'a b;$(x)/models/demoe'"


# --- the DAG (config/test.yaml, dry runs) -------------------------------------------------


def _test_config() -> dict:
    """config/test.yaml deep-merged over config/config.yaml, as the dry runs read them."""
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    update_config(config, yaml.safe_load((REPO / "config" / "test.yaml").read_text()))
    return config


def _dry_run(results: Path, *targets: str) -> str:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    cmd = [sys.executable, "-m", "snakemake", "--configfile", "config/test.yaml"]
    run = subprocess.run(
        [*cmd, "--config", f"results={results}", "-n", *targets],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    return run.stdout


def _jobs(stdout: str) -> dict[str, list[dict[str, list[str]]]]:
    """Rule → its jobs' input and output lists, from a dry run's job list."""
    jobs: dict[str, list[dict[str, list[str]]]] = {}
    for block in re.split(r"\n(?=\[[^\]]+\]\n(?:local)?rule )", stdout):
        rule = re.search(r"^(?:local)?rule (\w+):$", block, re.M)
        if rule:
            fields = dict(re.findall(r"^\s+(input|output): (.+)$", block, re.M))
            job = {k: fields.get(k, "").split(", ") for k in ("input", "output")}
            jobs.setdefault(rule[1], []).append(job)
    return jobs


@pytest.mark.slow
def test_dag_has_one_evaluation_job_per_experiment_reading_its_own_model(tmp_path):
    results = tmp_path / "results"
    jobs = _jobs(_dry_run(results))
    config = _test_config()
    compared = planned_compared(config["train"], [])  # train.competitors
    specs = table_specs(config["eval"]["tlc"]["experts"], compared=compared).values()
    planned = eval_jobs(needed_evaluations(specs, BENCHMARK, seed_replicates(config)))
    evaluate = {rule: runs for rule, runs in jobs.items() if rule.startswith("evaluate")}
    # the user's models (config models:) are registered by the DAG build, not here
    users = {f"evaluate_{key}_aio" for key in config.get("models") or {}}
    assert users and users <= set(evaluate)
    # every experiment's job; its seed replicates' where a target reads them (tables do)
    base = {j.rule_name for j in planned if "_rep" not in j.experiment}
    assert base <= set(evaluate) - users <= {j.rule_name for j in planned}
    for job in (j for j in planned if j.rule_name in evaluate):
        (run,) = evaluate[job.rule_name]  # one job per experiment …
        # … writing exactly its evaluations, and its model's card with their scores
        card = list(job.card_output(str(results)).values())
        assert run["output"] == job.outputs(str(results)) + card
        assert card == (
            []
            if job.experiment == BLURRY_INPUT
            else [f"{results}/models/{job.experiment}/README.md"]
        )
        models = {p for p in run["input"] if "/models/" in p}
        expected = (
            set() if job.experiment == BLURRY_INPUT else {f"{results}/models/{job.experiment}"}
        )
        assert {str(Path(p).parent) for p in models} == expected  # only its own model


@pytest.mark.slow
def test_single_evaluation_target_schedules_only_its_experiments_job(tmp_path):
    results = tmp_path / "results"
    for experiment, dataset in (("demoe", "gopro"), ("nafnet_gopro", "gopro")):
        jobs = _jobs(_dry_run(results, f"{results}/eval/{experiment}/{dataset}/auto.json"))
        assert {r for r in jobs if r.startswith("evaluate")} == {f"evaluate_{experiment}"}
        trained = {
            Path(o).parent.name for run in jobs.get("train_model", []) for o in run["output"]
        }
        assert experiment in trained
        assert not set(jobs) & {"results_table", "report_table", "claims_scoreboard", "all"}
    blurry = _jobs(_dry_run(results, f"{results}/eval/{BLURRY_INPUT}/dpdd/auto.json"))
    assert "train_model" not in blurry and {r for r in blurry if r.startswith("evaluate")} == {
        f"evaluate_{BLURRY_INPUT}"
    }


@pytest.mark.slow
def test_replicates_are_trained_from_their_parents_replicate_and_evaluated(tmp_path):
    """config/test.yaml: two seeds of baseline_aio and demoe (train.replicates)."""
    results = tmp_path / "results"
    models = {
        Path(o).parent.name for r in _jobs(_dry_run(results))["train_model"] for o in r["output"]
    }
    replicated = {m for m in models if "_rep" in m}
    assert replicated == {"baseline_aio_rep1", "demoe_rep1"}  # rule all trains them
    jobs = _jobs(_dry_run(results, f"{results}/eval/demoe_rep1/gopro/auto.json"))
    assert {r for r in jobs if r.startswith("evaluate")} == {"evaluate_demoe_rep1"}
    config = _test_config()
    specs = table_specs(config["eval"]["tlc"]["experts"]).values()
    plan = eval_jobs(needed_evaluations(specs, BENCHMARK, seed_replicates(config)))
    (job,) = [j for j in plan if j.experiment == "demoe_rep1"]
    (run,) = jobs["evaluate_demoe_rep1"]
    # demoe's evaluations, its own files, and the replicate's own model card
    assert run["output"] == [*job.outputs(str(results)), f"{results}/models/demoe_rep1/README.md"]
    assert {str(Path(p).parent) for p in run["input"] if "/models/" in p} == {
        f"{results}/models/demoe_rep1"
    }
    trained = {Path(r["output"][0]).parent.name: r for r in jobs["train_model"]}
    assert set(trained) == {"baseline_aio_rep1", "demoe_rep1"}  # not baseline_aio itself
    assert f"{results}/models/baseline_aio_rep1/model.safetensors" in trained["demoe_rep1"]["input"]
