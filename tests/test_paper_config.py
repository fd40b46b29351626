"""The paper-scale config builds its DAG over published-layout trees, and
fixed external checkpoints enter the DAG in place of training."""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from conftest import REPO, run_snakemake
from huggingface_hub import ModelCard

from demoe.analysis.labels import weights_source
from demoe.data.build import DEFAULT_ROOTS
from demoe.data.synthetic.lolv2 import synth_lolv2
from demoe.data.synthetic.writer import synth_aioblur
from demoe.experiments.catalogue import EXPERIMENTS
from demoe.experiments.eval_jobs import eval_jobs
from demoe.experiments.paper_tables import BLURRY_INPUT, needed_evaluations, table_specs
from demoe.io.checksum import sha256_of
from demoe.plan import parse_dry_run
from demoe.tasks import DATASETS
from demoe.workflow import planned_compared

PUBLISHED = REPO / "tests" / "data" / "conformance" / "demoe_small_published_layout.pth"
pytestmark = pytest.mark.slow


def write_yaml(path: Path, obj: dict) -> Path:
    path.write_text(yaml.safe_dump(obj), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def published_tree(tmp_path_factory) -> Path:
    """Every dataset in its published layout, tiny images (the synthetic writer)."""
    root = tmp_path_factory.mktemp("published") / "data"
    synth_aioblur(root, scale="tiny")
    synth_lolv2(root, scale="tiny")  # Fig. 8's other task (App. A), data.roots.lolv2_real
    assert {p.name for p in root.iterdir() if p.is_dir()} >= set(DEFAULT_ROOTS.values())
    return root


def paper_site(tmp_path: Path, root: Path, **data) -> Path:
    """A site config over ``root``: results under tmp, and the files that config/paper.yaml
    requires (the metrics' files of eval.require_iqa_files: LPIPS, NIQE, MUSIQ, NRQM; Fig.
    4's CLIP weights) as stand-ins a dry run never reads."""
    files = {}
    for key, name in (
        ("niqe_params", "niqe_pris_params.npz"),
        ("musiq_weights", "musiq_koniq_ckpt.pth"),
        ("nrqm_weights", "NRQM_model.mat"),
        ("lpips_weights", "alex.pth"),
        ("alexnet_weights", "alexnet-owt-7be5be79.pth"),
    ):
        (tmp_path / name).touch()
        files[key] = str(tmp_path / name)
    (tmp_path / "open_clip_vit_b_32.bin").touch()  # Fig. 4's CLIP weights (analysis.clip)
    site = {"results": str(tmp_path / "results"), "data": {"root": str(root), **data}}
    clip = {"clip": {"pretrained": str(tmp_path / "open_clip_vit_b_32.bin")}}
    return write_yaml(
        tmp_path / f"site_{len(data)}.yaml", {**site, "eval": files, "analysis": clip}
    )


def planned_outputs(stdout: str) -> set[str]:
    """Every output path of a dry run's job list."""
    return {p for line in re.findall(r"^\s+output: (.+)$", stdout, re.M) for p in line.split(", ")}


def test_paper_config_dry_run_lists_every_job(published_tree, tmp_path):
    results = tmp_path / "results"
    site = paper_site(tmp_path, published_tree)
    run = run_snakemake("-n", configs=("config/paper.yaml", site))
    assert run.returncode == 0, run.stderr[-3000:]
    outputs = planned_outputs(run.stdout)
    # Every experiment trained with the paper's recipe (epochs, not the small profile's steps).
    models = {p for p in outputs if p.endswith("/model.safetensors")}
    paper = yaml.safe_load((REPO / "config/paper.yaml").read_text())
    controls = paper["analysis"]["similarity"]["seed_controls"]  # Figs. 2/7/9 controls
    trained = [
        name
        for name, exp in EXPERIMENTS.items()
        if exp.seed_offset == 0 or exp.datasets[0] in controls
    ]
    assert models == {f"{results}/models/{name}/model.safetensors" for name in trained}
    # Every evaluation of every table, on every dataset.
    compared = planned_compared(paper["train"], [])  # train.competitors: true
    specs = table_specs(paper["eval"]["tlc"]["experts"], compared=compared)
    evals = needed_evaluations(specs.values(), DATASETS)
    assert {p for p in outputs if p.startswith(f"{results}/eval/") and p.endswith(".json")} == {
        str(e.path(results)) for e in evals
    }
    for name in table_specs():
        assert f"{results}/tables/{name}.csv" in outputs
    figures = {Path(p).stem for p in outputs if p.startswith(f"{results}/figures/")}
    assert {f"fig{n:02d}" for n in (2, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14)} == {
        f[:5] for f in figures
    }
    stats = dict(re.findall(r"^(\w+)\s+(\d+)$", run.stdout, re.M))
    assert int(stats["train_model"]) == len(trained)
    # One evaluation job per experiment (demoe/experiments/eval_jobs.py), the blurry input's included.
    jobs = eval_jobs(evals)
    assert {r: int(n) for r, n in stats.items() if r.startswith("evaluate")} == {
        j.rule_name: 1 for j in jobs
    }
    assert BLURRY_INPUT in {j.experiment for j in jobs}
    assert "synth_aioblur" not in stats  # real data root: nothing synthetic
    # The plan bills the decoded store's disk before any manifest exists: Table 4's
    # distinct pairs (LOLBlur after subsampling) × 2 RGB images at each set's frame size.
    store = {
        j.wildcards["manifest"]: j
        for j in parse_dry_run(run.stdout)
        if j.rule == "prepare_train_store"
    }
    by_hand = (
        2
        * 3
        * (
            3758 * 773 * 680
            + 2010 * 1436 * 2152
            + 2103 * 720 * 1280
            + 350 * 1120 * 1680
            + 4200 * 640 * 1120
        )
    )
    assert store["train"].disk_gb == pytest.approx(by_hand / 1e9, abs=1e-3)


def test_paper_config_missing_dataset_fails_at_dag_build(published_tree, tmp_path):
    root = tmp_path / "data"
    shutil.copytree(published_tree, root)
    shutil.rmtree(root / DEFAULT_ROOTS["rsblur"])
    site = paper_site(tmp_path, root)
    run = run_snakemake("-n", configs=("config/paper.yaml", site))
    assert run.returncode != 0
    console = run.stdout + run.stderr
    assert "ConfigError" in console and "data.roots.rsblur" in console
    assert "data.roots.gopro" not in console
    # Listing it as optional is the documented way out.
    optional = paper_site(tmp_path, root, optional=["rsblur"])
    assert run_snakemake("-n", "--quiet", configs=("config/paper.yaml", optional)).returncode == 0


def test_missing_clip_weights_fail_the_dry_run_with_their_key(published_tree, tmp_path):
    site = paper_site(tmp_path, published_tree)
    (tmp_path / "open_clip_vit_b_32.bin").unlink()
    run = run_snakemake("-n", "--quiet", configs=("config/paper.yaml", site))
    assert run.returncode != 0
    console = run.stdout + run.stderr
    assert "analysis.clip.pretrained: no file at" in console
    assert "analysis.clip.allow_random: true" in console  # the opt-out, named


def test_missing_metric_files_fail_the_dry_run_with_the_way_out(published_tree, tmp_path):
    site = paper_site(tmp_path, published_tree)
    (tmp_path / "alex.pth").unlink()  # LPIPS, which the paper reports in Tables 1-3
    run = run_snakemake("-n", "--quiet", configs=("config/paper.yaml", site))
    assert run.returncode != 0
    console = run.stdout + run.stderr
    assert "eval.lpips_weights names no file" in console
    assert "eval.require_iqa_files: false" in console and "README" in console


def test_small_profile_overrides_do_not_leak_into_paper_profile(published_tree, tmp_path):
    site = paper_site(tmp_path, published_tree)
    run = run_snakemake(
        "-n",
        "-p",
        "--forcerun",
        "train_model",
        configs=("config/config.yaml", "config/paper.yaml", site),
    )
    assert run.returncode == 0, run.stderr[-3000:]
    # The small profile's stage1 block (400 steps) must not reach the paper's stage 1.
    stage1 = [
        line
        for line in run.stdout.splitlines()
        if "baseline_aio_width64" in line and "demoe.cli train" in line
    ]
    assert stage1 and all('"epochs": 400' in line and '"steps": null' in line for line in stage1)


def test_fixed_weights_label_their_table_rows():
    specs = table_specs(fixed_weights={"demoe": "DeMoE.pth"})
    labels = [r.label for r in specs["table6_tlc"].rows if r.experiment == "demoe"]
    assert labels and all(label.endswith("[weights: DeMoE.pth]") for label in labels)
    nafnet_tlc = [r.label for r in specs["table6_tlc"].rows if r.experiment != "demoe"]
    assert nafnet_tlc and not any("weights:" in label for label in nafnet_tlc)
    nafnets = [r.label for r in specs["table3_task_specific"].rows if "NAFNet" in r.label]
    assert nafnets and not any("weights:" in label for label in nafnets)


def test_fixed_checkpoint_is_evaluated_not_trained(tmp_path):
    """A tiny DAG (config/test.yaml data) evaluating the published-layout checkpoint."""
    checkpoint = tmp_path / "DeMoE_published.pth"
    shutil.copy2(PUBLISHED, checkpoint)
    results = tmp_path / "results"
    site = write_yaml(
        tmp_path / "site.yaml", {"results": str(results), "checkpoints": {"demoe": str(checkpoint)}}
    )
    configs = ("config/test.yaml", site)
    targets = [
        f"{results}/eval/demoe/gopro/auto.json",
        f"{results}/figures/fig11_expert_correlation.png",
    ]
    run = run_snakemake("--cores", "2", *targets, configs=configs)
    assert run.returncode == 0, (run.stdout + run.stderr)[-4000:]
    console = run.stdout + run.stderr
    assert "rule import_checkpoint" in console and "rule train_model" not in console
    model_config = json.loads((results / "models/demoe/config.json").read_text())
    assert model_config["metadata"]["source"] == checkpoint.name
    summary = json.loads((results / "eval/demoe/gopro/auto.json").read_text())
    assert summary["images"] > 0 and math.isfinite(summary["means"]["psnr"])
    # The table rows name the file; the table trains the paper rows' other models (Table 6's
    # NAFNet), never the fixed one.
    labelled = [f"{results}/tables/table6_tlc.csv", f"{results}/figures/fig12_router_output.png"]
    table = run_snakemake("-n", "-p", *labelled, configs=configs)
    assert table.returncode == 0, table.stderr[-2000:]
    assert f"--fixed-weights=demoe={checkpoint.name}" in table.stdout
    # The router figures read the imported folder's config (file name and SHA-256).
    assert f"--model {results}/models/demoe/config.json" in table.stdout
    digest = sha256_of(checkpoint)
    assert model_config["metadata"]["source_sha256"] == digest
    assert weights_source(results / "models/demoe") == f"{checkpoint.name}, sha256 {digest[:12]}"
    # The evaluation job wrote the model card again with its scores and their intervals.
    card = ModelCard.load(results / "models/demoe/README.md")
    assert re.search(r"\| PSNR \(dB\), GoPro \| [\d.]+ \| \[[\d.]+, [\d.]+\] \|", card.text)
    assert f"{results}/models/demoe/train_log.jsonl" not in table.stdout
    # A changed file reruns only what reads it.
    os.utime(checkpoint, (time.time() + 10, time.time() + 10))
    again = run_snakemake("-n", *targets, configs=configs)
    assert again.returncode == 0, again.stderr[-2000:]
    stats = dict(re.findall(r"^(\w+)\s+(\d+)$", again.stdout, re.M))
    assert set(stats) - {"total"} == {
        "import_checkpoint",
        "evaluate_demoe",
        "fig11_expert_correlation",
    }


def planned_rules(stdout: str) -> dict[str, int]:
    """Job counts per rule of a dry run's "Job stats" table."""
    return {k: int(v) for k, v in re.findall(r"^(\w+)\s+(\d+)$", stdout, re.M) if k != "total"}


def test_published_weights_only_never_trains(published_tree, tmp_path):
    """The README's recipe: train.enabled false + the published DeMoE weights plans no
    training (nor the decoded store it reads), and every table still builds."""
    site = paper_site(tmp_path, published_tree)
    weights = {"checkpoints": {"demoe": str(PUBLISHED)}, "train": {"enabled": False}}
    given = write_yaml(tmp_path / "given.yaml", weights)
    run = run_snakemake("-n", configs=("config/paper.yaml", site, given))
    assert run.returncode == 0, run.stderr[-3000:]
    rules = planned_rules(run.stdout)
    assert "train_model" not in rules and "prepare_train_store" not in rules
    assert rules["import_checkpoint"] == 1 and rules["results_table"] == 9
    assert set(e.removeprefix("evaluate_") for e in rules if e.startswith("evaluate_")) == {
        "demoe",
        BLURRY_INPUT,
    }
    assert "fig11_expert_correlation" in rules and "fig02_layer_correlation" not in rules


@pytest.mark.parametrize("dataset", [*DEFAULT_ROOTS, "lolv2_real"])
def test_an_absent_optional_dataset_leaves_the_plan(published_tree, tmp_path, dataset):
    site = paper_site(
        tmp_path, published_tree, roots={dataset: f"ABSENT_{dataset}"}, optional=[dataset]
    )
    run = run_snakemake("-n", configs=("config/paper.yaml", site))
    assert run.returncode == 0, run.stderr[-3000:]
    outputs = planned_outputs(run.stdout)
    mentions = [p for p in outputs if dataset in Path(p).parts or f"_{dataset}/" in p]
    mentions = [p for p in mentions if not (dataset == "lolblur" and "real_lolblur" in p)]
    assert not mentions, mentions[:5]
    assert "results_table" in planned_rules(run.stdout)


def test_a_moved_project_has_nothing_to_do(tmp_path):
    """Rule inputs, params and commands name the repository's files relative to the working
    directory: a finished run copied elsewhere (with its results) reruns nothing, and no
    job of the whole plan names the folder the project sits in."""
    first = tmp_path / "a"
    shutil.copytree(
        REPO, first, ignore=shutil.ignore_patterns(".venv", ".git", "results*", ".snakemake")
    )
    write_yaml(first / "site.yaml", {"results": "results"})
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}

    def snakemake(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "snakemake", "--cores", "2", *args]
        command += ["--configfile", "config/test.yaml", "site.yaml"]
        return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True)

    run = snakemake(first, "results/tables/table4_aioblur_distribution.csv")
    assert run.returncode == 0, run.stderr[-3000:]
    second = tmp_path / "b"
    shutil.copytree(first, second, symlinks=True)
    again = snakemake(second, "results/tables/table4_aioblur_distribution.csv", "-n")
    assert again.returncode == 0, again.stderr[-3000:]
    assert "Nothing to be done" in again.stdout + again.stderr, again.stdout[-3000:]
    plan = snakemake(second, "-n", "-p")
    assert plan.returncode == 0, plan.stderr[-3000:]
    jobs = plan.stdout.split("Job stats:", 2)[-1]  # the job blocks and their commands
    assert str(second) not in jobs and str(REPO) not in jobs
