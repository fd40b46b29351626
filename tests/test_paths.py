"""The results layout (demoe/paths.py) is the one the README documents and existing runs
have on disk: a change here moves every artifact, so it is pinned file by file."""

from __future__ import annotations

from pathlib import Path

from demoe import paths


def test_the_documented_layout() -> None:
    r = "results"
    assert paths.aio_manifest(r, "train") == "results/data/manifests/aioblur_train.jsonl"
    assert paths.manifest(r, "lolv2_real") == "results/data/manifests/lolv2_real.jsonl"
    assert paths.build_report(r) == "results/data/manifests/build_report.json"
    assert paths.mse_pairs(r) == "results/data/manifests/mse_pairs.csv"
    assert paths.train_store(r) == "results/data/store/train"
    assert paths.niqe_params(r) == "results/data/niqe_params.npz"
    assert paths.model_dir(r, "demoe") == "results/models/demoe"
    assert paths.model_file(r, "demoe") == "results/models/demoe/model.safetensors"
    assert paths.model_file(r, "demoe", paths.CONFIG_FILE) == "results/models/demoe/config.json"
    assert paths.checkpoint_dir(r, "demoe") == "results/checkpoints/demoe"
    assert (
        paths.eval_file(r, "demoe", "gopro", "auto", ".csv") == "results/eval/demoe/gopro/auto.csv"
    )
    assert paths.table(r, "claims", "md") == "results/tables/claims.md"
    assert paths.cost_repeats(r) == "results/tables/cost_runtime_repeats.csv"
    assert paths.figure(r, "fig09_cka", "csv") == "results/figures/fig09_cka.csv"
    assert paths.report_table(r, "cost") == "results/report/tables/cost.html"
    assert paths.log(r, "train", "demoe") == "results/logs/train/demoe.log"
    assert paths.benchmark(r, "train", "demoe") == "results/benchmarks/train/demoe.tsv"


def test_wildcards_and_path_roots_pass_through() -> None:
    """The rules give Snakemake wildcards as names; a Path root works like a string."""
    assert paths.model_file("res", "{experiment}") == "res/models/{experiment}/model.safetensors"
    assert paths.log(Path("/tmp/run"), "tables", "{table}") == "/tmp/run/logs/tables/{table}.log"
