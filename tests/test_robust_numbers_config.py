"""Numbers stay numbers and absurd settings are refused when they are read.

An identical image pair gives a capped PSNR, never ``inf``; the evaluation's JSON never
holds ``Infinity`` or ``NaN``; an evaluation where every image failed is an error; and
``results: ""``, a TLC crop of 0 or less, ``k_used`` outside 1..num_exp and a training
batch larger than the machine's memory are each refused, naming the key.
"""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import REPO

from demoe.cli import main
from demoe.data.images import write_image
from demoe.data.manifest import Record, write_manifest
from demoe.errors import ConfigError
from demoe.eval.ecc import AlignResult
from demoe.eval.metrics import PSNR_CEILING_DB, psnr
from demoe.eval.registry import compute_metrics, get_metric
from demoe.models import create_model
from demoe.train import config as train_config
from demoe.train.toy import toy_config

SCHEMA = yaml.safe_load((REPO / "config" / "schema" / "config.schema.yaml").read_text())
CONFIG = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
MANIFESTS = {"train": "train.jsonl", "test": "test.jsonl"}


def _pairs(tmp_path: Path, identical: list[bool]) -> Path:
    """A manifest of 16 × 16 pairs; blurry == sharp where ``identical``."""
    rng = np.random.default_rng(0)
    records = []
    for i, same in enumerate(identical):
        sharp = rng.random((16, 16, 3))
        blurry = sharp if same else np.clip(sharp + rng.normal(0, 0.1, sharp.shape), 0, 1)
        write_image(tmp_path / f"b{i}.png", blurry)
        write_image(tmp_path / f"s{i}.png", sharp)
        records.append(
            Record(
                str(tmp_path / f"b{i}.png"), str(tmp_path / f"s{i}.png"), "defocus", "dpdd", "test"
            )
        )
    write_manifest(tmp_path / "m.jsonl", records)
    return tmp_path / "m.jsonl"


def _eval(manifest: Path, *args: str) -> int:
    out = manifest.parent
    return main(
        ["eval", "--blurry-input", "--manifest", str(manifest), "--out", str(out / "r.csv")]
        + ["--summary", str(out / "r.json"), *args]
    )


def test_identical_images_have_the_capped_psnr_plain_and_aligned():
    image = np.random.default_rng(1).random((16, 16, 3)).astype(np.float32)
    assert psnr(image, image) == PSNR_CEILING_DB
    assert compute_metrics(image, image, ["psnr"]).values["psnr"] == PSNR_CEILING_DB
    mask = np.ones_like(image)
    aligned = AlignResult(image, image, mask, np.eye(3), 1.0, 1.0)
    assert get_metric("psnr").aligned(aligned) == PSNR_CEILING_DB
    assert "100 dB" in get_metric("psnr").note  # what the tables' notes print


def test_an_identical_pair_leaves_a_finite_mean_and_json_without_nan(tmp_path):
    manifest = _pairs(tmp_path, [True, False])
    assert _eval(manifest, "--metrics", "psnr", "lpips") == 0
    text = (tmp_path / "r.json").read_text()
    assert "Infinity" not in text and "NaN" not in text
    summary = json.loads(text)
    per_image = pd.read_csv(tmp_path / "r.csv")["psnr"]
    assert per_image[0] == PSNR_CEILING_DB and per_image[1] < 40
    assert summary["means"]["psnr"] == pytest.approx(per_image.mean())  # the other counts
    assert summary["means"]["lpips"] is None and "lpips" in summary["unavailable"]


def test_every_image_failing_is_an_error_and_one_failure_is_not(tmp_path, capsys):
    manifest = _pairs(tmp_path, [False, False])
    (tmp_path / "s0.png").write_bytes(b"not a png")
    assert _eval(manifest, "--metrics", "psnr") == 0  # one failure: listed, rc 0
    assert "1 of 2 images failed" in capsys.readouterr().out
    (tmp_path / "s1.png").write_bytes(b"not a png either")
    for name in ("r.csv", "r.json"):
        (tmp_path / name).unlink()
    assert _eval(manifest, "--metrics", "psnr") == 2
    err = [line for line in capsys.readouterr().err.splitlines() if "error" in line]
    assert len(err) == 1 and err[0].startswith("demoe eval: error: all 2 images failed")
    assert "b0.png" in err[0] and not list(tmp_path.glob("r.*"))  # nothing half-true


@pytest.mark.parametrize("size", ["0", "-3"])
def test_tlc_train_size_must_be_positive(tmp_path, capsys, size):
    manifest = _pairs(tmp_path, [False])
    with pytest.raises(SystemExit) as exc:
        main(
            ["eval", "--model", "m", "--manifest", str(manifest), "--out", "x.csv"]
            + ["--tlc", "all", "--tlc-train-size", size]
        )
    assert exc.value.code == 2
    assert "--tlc-train-size: expected a positive integer" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("key", "value"),
    [(("results",), ""), (("results",), "  "), (("eval", "tlc", "train_size"), 0)],
)
def test_schema_refuses_empty_results_and_a_zero_tlc_size(key, value):
    config = json.loads(json.dumps(CONFIG))
    node = config
    for part in key[:-1]:
        node = node[part]
    node[key[-1]] = value
    with pytest.raises(jsonschema.ValidationError) as exc:
        jsonschema.validate(config, SCHEMA)
    assert list(exc.value.absolute_path) == list(key)


@pytest.mark.parametrize("k_used", [0, 6, 99])
def test_k_used_out_of_range_is_refused_not_clamped(k_used):
    with pytest.raises(
        ValueError, match=f"k_used must be between 1 and num_exp \\(5\\), got {k_used}"
    ):
        create_model("demoe", width=4, k_used=k_used)
    assert create_model("demoe", width=4, k_used=5).k_used == 5


def test_a_batch_larger_than_memory_is_refused_naming_the_keys(tmp_path, monkeypatch):
    monkeypatch.setattr(train_config, "host_memory_bytes", lambda: 23 * 2**30)
    toy_config(MANIFESTS, tmp_path, data={"crop": 384, "batch_size": 32})  # fits
    for data in ({"crop": 4096, "batch_size": 4}, {"crop": 64, "batch_size": 100_000}):
        with pytest.raises(ConfigError, match=r"data\.crop .* data\.batch_size .* GiB"):
            toy_config(MANIFESTS, tmp_path, data=data)
    # on a GPU the host holds the batches only: the same crop fits there
    toy_config(MANIFESTS, tmp_path, data={"crop": 4096, "batch_size": 4}, run={"device": "cuda"})


def test_host_memory_is_the_physical_memory_or_less():
    physical = train_config.os.sysconf("SC_PAGE_SIZE") * train_config.os.sysconf("SC_PHYS_PAGES")
    assert 0 < train_config.host_memory_bytes() <= physical
