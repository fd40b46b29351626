"""PairedDataset (crop/flip/eval), the balanced DistributedSampler-compatible sampler, images."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader

from demoe.data.datasets import BalancedTaskSampler, PairedDataset, task_weights
from demoe.data.images import read_image, write_image
from demoe.data.manifest import Record, read_manifest, write_manifest
from demoe.errors import DataError
from demoe.tasks import TASKS


def ramp(path, h=20, w=30, offset=0):
    arr = (np.arange(h * w * 3).reshape(h, w, 3) + offset) % 256
    Image.fromarray(arr.astype(np.uint8)).save(path)
    return str(path)


@pytest.fixture
def records(tmp_path):
    recs = []
    for i, (task, ds) in enumerate([("defocus", "dpdd")] * 6 + [("low_light", "lolblur")] * 2):
        b = ramp(tmp_path / f"b{i}.png", offset=i)
        s = ramp(tmp_path / f"s{i}.png", offset=i + 1)
        recs.append(Record(b, s, task, ds, "train"))
    return recs


def test_item_has_task_index_and_same_crop_on_both(records):
    ds = PairedDataset(records, crop=8, seed=0)
    item = ds[6]
    assert item["task_index"] == TASKS.index("low_light")
    assert item["dataset"] == "lolblur" and item["path"] == records[6].blurry
    assert item["blurry"].shape == item["sharp"].shape == (3, 8, 8)
    assert item["blurry"].dtype == torch.float32
    # sharp = blurry + 1/255 everywhere except where the uint8 ramp wraps: same window.
    diff = (item["sharp"] - item["blurry"]) * 255
    assert torch.isclose(diff, torch.ones_like(diff), atol=1e-3).float().mean() > 0.9


def test_augmentation_is_seeded_by_epoch(records):
    ds = PairedDataset(records, crop=8, seed=0)
    a = ds[0]["blurry"]
    assert torch.equal(a, PairedDataset(records, crop=8, seed=0)[0]["blurry"])
    crops = []
    for epoch in range(5):
        ds.set_epoch(epoch)
        crops.append(ds[0]["blurry"])
    assert torch.equal(crops[0], a)
    assert any(not torch.equal(c, a) for c in crops[1:])


def test_eval_mode_yields_whole_images(records):
    item = PairedDataset(records, crop=None)[0]
    assert item["blurry"].shape == (3, 20, 30)
    assert torch.allclose(item["blurry"], torch.from_numpy(read_image(records[0].blurry)))


def test_crop_larger_than_image_pads(records):
    item = PairedDataset(records, crop=32)[0]
    assert item["blurry"].shape == (3, 32, 32)


def test_unpaired_items_have_no_sharp(tmp_path):
    rec = Record(ramp(tmp_path / "a.png"), None, None, "real_lolblur", "test")
    item = PairedDataset([rec], crop=None)[0]
    assert "sharp" not in item and item["task_index"] == -1


def test_dataloader_batches_from_manifest(tmp_path, records):
    write_manifest(tmp_path / "m.jsonl", records)
    ds = PairedDataset(tmp_path / "m.jsonl", crop=8)
    batch = next(iter(DataLoader(ds, batch_size=4)))
    assert batch["blurry"].shape == (4, 3, 8, 8) and batch["task_index"].shape == (4,)


def test_corrupt_image_names_the_file(tmp_path, records):
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    ds = PairedDataset([Record(str(bad), records[0].sharp, "defocus", "dpdd", "train")])
    with pytest.raises(DataError, match="bad.png"):
        ds[0]


def test_manifest_roundtrip_and_validation(tmp_path, records):
    write_manifest(tmp_path / "m.jsonl", records)
    assert read_manifest(tmp_path / "m.jsonl") == records
    (tmp_path / "bad.jsonl").write_text(
        '{"blurry": "a", "sharp": null, "task": "x", "dataset": "d", "split": "train"}\n'
    )
    with pytest.raises(DataError, match=r"bad.jsonl:1: .*unknown task"):
        read_manifest(tmp_path / "bad.jsonl")
    with pytest.raises(DataError, match="not found"):
        read_manifest(tmp_path / "missing.jsonl")


def test_task_weights_equalise_tasks():
    w = task_weights(["a"] * 6 + ["b"] * 2)
    assert w[:6].sum() == pytest.approx(0.5) and w[6:].sum() == pytest.approx(0.5)


def test_balanced_sampler_balances_tasks(records):
    sampler = BalancedTaskSampler(records, num_samples=4000, seed=1)
    idx = np.array(list(sampler))
    share_low_light = np.isin(idx, [6, 7]).mean()
    assert len(idx) == 4000 and abs(share_low_light - 0.5) < 0.03


def test_sampler_shards_like_distributed_sampler(records):
    shards = [
        list(BalancedTaskSampler(records, num_samples=9, num_replicas=2, rank=r, seed=3))
        for r in range(2)
    ]
    assert len(shards[0]) == len(shards[1]) == 5  # padded to a multiple of the world size
    full = BalancedTaskSampler(records, num_samples=9, num_replicas=2, rank=0, seed=3)
    all_idx = full.epoch_indices().tolist()
    assert shards[0] == all_idx[0::2] and shards[1] == all_idx[1::2]
    full.set_epoch(1)
    assert full.epoch_indices().tolist() != all_idx
    with pytest.raises(ValueError, match="rank"):
        BalancedTaskSampler(records, num_replicas=2, rank=2)


def test_uniform_sampler_is_a_permutation(records):
    idx = list(BalancedTaskSampler(records, balance="none", seed=0))
    assert sorted(idx) == list(range(len(records)))


def test_write_image_roundtrip(tmp_path):
    img = np.random.default_rng(0).uniform(size=(5, 7, 3)).astype(np.float32)
    write_image(tmp_path / "x.png", img)
    back = read_image(tmp_path / "x.png")
    assert back.shape == (3, 5, 7)
    assert np.abs(back - img.transpose(2, 0, 1)).max() <= 0.5 / 255 + 1e-6
