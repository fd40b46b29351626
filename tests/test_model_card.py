"""Model cards: every saved model folder has a Hugging Face ``README.md`` that parses back."""

from __future__ import annotations

from pathlib import Path

import pytest
from huggingface_hub import ModelCard

import demoe
from demoe.io.checksum import sha256_of
from demoe.models.card import ARXIV_ID, CARD_FILE
from demoe.models.registry import create_model
from demoe.train.loop import Trainer
from demoe.train.toy import toy_config, write_toy_aioblur


@pytest.fixture(autouse=True)
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


def _card(folder: Path) -> ModelCard:
    return ModelCard.load(folder / CARD_FILE)


def test_a_demoe_card_has_the_metadata_and_the_folders_facts(tmp_path):
    model = create_model("demoe_small")
    metadata = {
        "experiment": "demoe_aio",
        "stage": "stage2",
        "steps": 1200,
        "datasets": ["gopro", "dpdd"],
        "scores": {"PSNR GoPro (dB)": {"value": 30.125, "low": 29.8, "high": 30.4}, "LPIPS": 0.12},
        "final_validation": {"step": 1200, "psnr": {"defocus": 24.5}, "router_accuracy": 0.9},
    }
    folder = demoe.save_model(model, tmp_path / "m", metadata)
    card = _card(folder)
    data = card.data.to_dict()
    assert data["library_name"] == "demoe" and data["license"] == "mit"
    assert {"image-deblurring", "image-restoration", "mixture-of-experts"} <= set(data["tags"])
    assert f"arxiv:{ARXIV_ID}" in data["tags"]
    assert data["datasets"] == ["gopro", "dpdd"]
    text = card.text
    assert sha256_of(folder / "model.safetensors") in text
    assert f"parameters: {sum(p.numel() for p in model.parameters()):,}" in text
    assert "architecture: `demoe`" in text and "steps: `1200`" in text and "stage: `stage2`" in text
    assert "GoPro (`gopro`, task synth_global_motion)" in text
    assert "| PSNR GoPro (dB) | 30.125 | [29.8, 30.4] |" in text
    assert "| LPIPS | 0.12 |" in text
    assert "| PSNR defocus (dB) | 24.50 | | validation at step 1200 |" in text
    assert "| router accuracy | 0.900 |" in text


def test_nafnet_and_imported_weights(tmp_path):
    folder = demoe.save_model(create_model("nafnet", width=4), tmp_path / "n")
    data = _card(folder).data.to_dict()
    assert "mixture-of-experts" not in data["tags"] and "datasets" not in data
    assert "No scores were recorded" in _card(folder).text
    imported = demoe.save_model(
        create_model("nafnet", width=4), tmp_path / "i", {"source": "X.pth"}
    )
    card = _card(imported)
    assert card.data.license == "other" and "keep the licence of their publisher" in card.text


def test_a_training_job_writes_a_card_with_its_steps_and_validation(tmp_path):
    toy = write_toy_aioblur(tmp_path / "toy")
    config = toy_config(toy, tmp_path / "run", schedule={"steps": 2})
    out = Trainer(config).fit()
    card = _card(out)
    assert card.data.library_name == "demoe"
    assert "steps: `2`" in card.text and "validation at step 2" in card.text
    assert sha256_of(out / "model.safetensors") in card.text
