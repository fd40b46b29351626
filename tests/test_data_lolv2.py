"""LOLv2-real for Fig. 8 (paper App. A): dataset registry, synthetic stand-in, adapter,
manifest, and the nafnet_lolv2_real experiment that reads it."""

from __future__ import annotations

import numpy as np
import pytest

from demoe.data.images import read_image
from demoe.data.layouts import lolv2_real
from demoe.data.lolv2 import build_lolv2_manifest
from demoe.data.manifest import read_manifest
from demoe.data.synthetic.generators import low_light_enhancement
from demoe.data.synthetic.lolv2 import LOLV2_SCALES, synth_lolv2
from demoe.errors import DataError
from demoe.experiments.catalogue import EXPERIMENTS, manifests, resolve_dict
from demoe.tasks import AIO_BLUR, AIO_BLUR_OOD, BENCHMARK, DATASETS, OTHER_TASK

PROFILE = {
    "settings": {s: {"seed": 0} if s == "run" else {} for s in ("data", "schedule", "optim", "run")}
}


def test_lolv2_is_in_no_benchmark() -> None:
    assert OTHER_TASK == ("lolv2_real",)
    assert "lolv2_real" in DATASETS and DATASETS["lolv2_real"].task is None
    assert "lolv2_real" not in (*AIO_BLUR, *AIO_BLUR_OOD, *BENCHMARK)
    assert len(AIO_BLUR) == 5 and len(AIO_BLUR_OOD) == 3


def test_low_light_enhancement_is_dark_noisy_and_unblurred() -> None:
    pair = low_light_enhancement(np.random.default_rng(3), 48, 64)
    assert pair.task is None and pair.kernel is None
    assert pair.blurry.shape == pair.sharp.shape == (48, 64, 3)
    assert pair.blurry.mean() < 0.7 * pair.sharp.mean()
    again = low_light_enhancement(np.random.default_rng(3), 48, 64)
    assert np.array_equal(pair.blurry, again.blurry)


def test_synthetic_lolv2_builds_a_manifest(tmp_path) -> None:
    synth_lolv2(tmp_path / "syn", scale="tiny", seed=1)
    root = tmp_path / "syn" / "LOLv2"
    counts = build_lolv2_manifest(root, tmp_path / "m.jsonl")
    assert counts == LOLV2_SCALES["tiny"]["counts"]
    records = read_manifest(tmp_path / "m.jsonl")
    assert {r.dataset for r in records} == {"lolv2_real"}
    assert {r.split for r in records} == {"train", "test"}
    first = records[0]
    assert first.task is None and first.task_index == -1
    assert first.blurry.endswith("Train/Low/low00001.png")
    assert first.sharp.endswith("Train/Normal/normal00001.png")
    assert read_image(first.blurry).mean() < read_image(first.sharp).mean()
    (tmp_path / "real" / "LOLv2").mkdir(parents=True)  # a LOLv2 not written by us
    with pytest.raises(DataError, match="not synthetic"):
        synth_lolv2(tmp_path / "real")


def test_adapter_pairs_by_number_and_reports_problems(tmp_path) -> None:
    synth_lolv2(tmp_path / "syn", scale="tiny")
    base = tmp_path / "syn" / "LOLv2" / "Real_captured" / "Train"
    (base / "Normal" / "normal00002.png").unlink()
    found = lolv2_real(tmp_path / "syn" / "LOLv2", "train")
    assert len(found.pairs) == LOLV2_SCALES["tiny"]["counts"]["train"] - 1
    assert found.problems.counts["missing_sharp"] == 1
    missing = lolv2_real(tmp_path / "nowhere", "test")
    assert not missing.pairs and missing.problems.counts["missing_folder"] == 2
    with pytest.raises(DataError, match="data.roots.lolv2_real"):
        build_lolv2_manifest(tmp_path / "nowhere", tmp_path / "m.jsonl")


def test_nafnet_lolv2_real_reads_its_own_manifest() -> None:
    exp = EXPERIMENTS["nafnet_lolv2_real"]
    assert exp.preset == EXPERIMENTS["nafnet_gopro"].preset  # same architecture (Fig. 8)
    data = resolve_dict("nafnet_lolv2_real", PROFILE, "res")["data"]
    assert data["train_manifest"] == data["val_manifest"] == manifests("res")["lolv2_real"]
    assert data["datasets"] == ["lolv2_real"]
    gopro = resolve_dict("nafnet_gopro", PROFILE, "res")["data"]
    assert gopro["train_manifest"] == manifests("res")["train"]
