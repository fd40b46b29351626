"""Weights identified by SHA-256 (tables, figures, scoreboard), the evaluation scores in the
model card, and the disk a decoded training store will take."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from huggingface_hub import ModelCard

import demoe
from demoe.analysis.card_scores import evaluation_scores, score_name
from demoe.analysis.intervals import IntervalSettings
from demoe.analysis.labels import (
    weights_note,
    weights_sha256,
    weights_source,
    with_weights_source,
)
from demoe.cli import main
from demoe.data.images import write_image
from demoe.data.manifest import Record
from demoe.data.store import manifest_store_mb, store_mb
from demoe.io.checksum import sha256_of
from demoe.models.card import rewrite_model_card
from demoe.models.registry import create_model
from demoe.paths import CARD_FILE, CONFIG_FILE, SHA256_KEY


@pytest.fixture(autouse=True)
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


def test_a_saved_folder_records_the_sha256_of_its_weights(tmp_path):
    folder = demoe.save_model(create_model("nafnet", width=4), tmp_path / "m")
    config = json.loads((folder / CONFIG_FILE).read_text())
    assert config[SHA256_KEY] == {"model.safetensors": sha256_of(folder / "model.safetensors")}
    assert weights_sha256(folder) == sha256_of(folder / "model.safetensors")
    assert weights_source(folder) is None  # trained here: no source file
    # the record is not a constructor argument: the folder loads as before
    assert isinstance(demoe.load_model(folder), torch.nn.Module)


def test_imported_weights_are_named_with_the_sha256_of_their_file(tmp_path):
    source = tmp_path / "DeMoE.pth"
    torch.save(create_model("nafnet", width=4).state_dict(), source)
    assert main(["models", "import", str(source), "--out", str(tmp_path / "demoe")]) == 0
    digest = sha256_of(source)
    folder = tmp_path / "demoe"
    assert weights_sha256(folder) == digest  # the published file's, which a user can check
    assert weights_source(folder) == f"DeMoE.pth, sha256 {digest[:12]}"
    title = with_weights_source("Router", folder / CONFIG_FILE)
    assert title == f"Router\n(DeMoE weights: DeMoE.pth, sha256 {digest[:12]})"
    assert with_weights_source("Router", None) == "Router"
    # two files of one name are told apart
    other = tmp_path / "b" / "DeMoE.pth"
    other.parent.mkdir()
    torch.save(create_model("nafnet", width=8).state_dict(), other)
    assert main(["models", "import", str(other), "--out", str(tmp_path / "b_model")]) == 0
    assert weights_source(tmp_path / "b_model") != weights_source(folder)


def test_weights_note_lists_each_model_with_its_hash(tmp_path):
    trained = demoe.save_model(create_model("nafnet", width=4), tmp_path / "a")
    note = weights_note({"NAFNet": trained, "missing": tmp_path / "nowhere"})
    digest = sha256_of(trained / "model.safetensors")
    assert note is not None and f"NAFNet {digest[:12]}" in note and "missing" not in note
    assert weights_note({"missing": tmp_path / "nowhere"}) is None


def _evaluation(folder: Path, dataset: str, run: str, psnr: list[float]) -> Path:
    """A per-image CSV and its summary as `demoe eval` writes them."""
    csv = folder / dataset / f"{run}.csv"
    csv.parent.mkdir(parents=True, exist_ok=True)
    frame = pd.DataFrame(
        {
            "dataset": dataset,
            "image": [f"{i}.png" for i in range(len(psnr))],
            "error": "",
            "psnr": psnr,
            "lpips": math.nan,
        }
    )
    frame.to_csv(csv, index=False)
    summary = {"means": {"psnr": float(np.mean(psnr)), "lpips": None}, "unavailable": {}}
    csv.with_suffix(".json").write_text(json.dumps(summary))
    return csv


def test_evaluation_scores_are_means_with_bootstrap_intervals(tmp_path):
    psnr = [30.0, 31.0, 32.0, 33.0, 34.0]
    auto = _evaluation(tmp_path, "gopro", "auto", psnr)
    fixed = _evaluation(tmp_path, "dpdd", "defocus", [25.0, 26.0])
    scores = evaluation_scores([auto, fixed], IntervalSettings(resamples=500))
    assert list(scores) == [score_name("psnr", "gopro", "auto"), "PSNR (dB), DPDD, defocus"]
    gopro = scores["PSNR (dB), GoPro"]
    assert gopro["value"] == pytest.approx(32.0)
    assert 30.0 <= gopro["low"] < 32.0 < gopro["high"] <= 34.0
    assert "5 test images" in gopro["source"]
    assert not any("LPIPS" in name for name in scores)  # n/a metrics are left out


def test_the_card_is_written_again_with_the_scores(tmp_path):
    model = create_model("nafnet", width=4)
    folder = demoe.save_model(model, tmp_path / "m", {"experiment": "baseline_aio"})
    scores = {"PSNR (dB), GoPro": {"value": 32.0, "low": 31.0, "high": 33.0, "source": "x"}}
    rewrite_model_card(folder, scores, sum(p.numel() for p in model.parameters()))
    card = ModelCard.load(folder / CARD_FILE)
    assert "| PSNR (dB), GoPro | 32 | [31, 33] | x |" in card.text
    assert sha256_of(folder / "model.safetensors") in card.text
    assert "width: `4`" in card.text and SHA256_KEY not in card.text


def test_eval_plan_writes_the_card_of_its_model(tmp_path):
    folder = demoe.save_model(create_model("nafnet", width=4), tmp_path / "m")
    records = []
    for i in range(3):
        rng = np.random.default_rng(i)
        sharp = rng.random((32, 32, 3))
        for kind, image in (("b", np.clip(sharp + 0.05, 0, 1)), ("s", sharp)):
            write_image(tmp_path / f"{kind}{i}.png", image)
        records.append(
            {
                "blurry": str(tmp_path / f"b{i}.png"),
                "sharp": str(tmp_path / f"s{i}.png"),
                "task": "defocus",
                "dataset": "dpdd",
                "split": "test",
            }
        )
    manifest = tmp_path / "test.jsonl"
    manifest.write_text("".join(json.dumps(r) + "\n" for r in records))
    out = tmp_path / "eval" / "dpdd" / "auto"
    entry = ["--manifest", str(manifest), "--metrics", "psnr", "ssim"]
    entry += ["--out", f"{out}.csv", "--summary", f"{out}.json"]
    plan = json.dumps([entry])
    assert main(["eval-plan", "--model", str(folder), "--plan", plan, "--card"]) == 0
    text = ModelCard.load(folder / CARD_FILE).text
    assert re.search(r"\| PSNR \(dB\), DPDD \| [\d.]+ \| \[[\d.]+, [\d.]+\] \| 3 test images", text)
    # a card needs a model folder
    code = main(["eval-plan", "--blurry-input", "--plan", plan, "--card"])
    assert code == 2


def test_store_disk_from_headers_and_from_nominal_sizes(tmp_path):
    records = []
    for i, (h, w) in enumerate([(40, 60), (40, 60), (20, 30)]):
        for kind in ("b", "s"):
            write_image(tmp_path / f"{kind}{i}.png", np.zeros((h, w, 3)))
        records.append(
            Record(str(tmp_path / f"b{i}.png"), str(tmp_path / f"s{i}.png"), None, "dpdd", "train")
        )
    records.append(records[0])  # a repeated pair (Table 4's balancing) is stored once
    decoded = 2 * 3 * (40 * 60 * 2 + 20 * 30)
    assert manifest_store_mb(records, sample=100) == math.ceil(decoded / 1e6)
    assert store_mb({"a": 10}, {"a": (100, 200)}) == math.ceil(2 * 3 * 10 * 100 * 200 / 1e6)
