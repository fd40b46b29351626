"""The decoded training store: same batches as the image files, incremental
rebuilds, clear errors."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch

from demoe.data.datasets import PairedDataset
from demoe.data.images import read_image, write_image
from demoe.data.manifest import Record, read_manifest
from demoe.data.store import INDEX, DecodedStore, build_store, image_paths
from demoe.errors import DataError
from demoe.train.toy import write_toy_aioblur


@pytest.fixture()
def toy(tmp_path):
    files = write_toy_aioblur(tmp_path / "toy", size=48, train_per_dataset=3)
    return read_manifest(files["train"])


def _reference_item(rec: Record, crop: int, seed: int, epoch: int, index: int):
    """The crop of the pre-store loader, written out: decode whole float CHW images, pad,
    crop, flip (the draws of ``(seed, epoch, index)``)."""
    images = [read_image(rec.blurry), read_image(rec.sharp)]
    rng = np.random.default_rng([seed, epoch, index])
    _, h, w = images[0].shape
    pad_h, pad_w = max(0, crop - h), max(0, crop - w)
    if pad_h or pad_w:
        mode = "reflect" if pad_h < h and pad_w < w else "edge"
        images = [np.pad(im, ((0, 0), (0, pad_h), (0, pad_w)), mode=mode) for im in images]
        h, w = h + pad_h, w + pad_w
    y, x = int(rng.integers(0, h - crop + 1)), int(rng.integers(0, w - crop + 1))
    images = [im[:, y : y + crop, x : x + crop] for im in images]
    if rng.uniform() < 0.5:
        images = [im[:, :, ::-1] for im in images]
    if rng.uniform() < 0.5:
        images = [im[:, ::-1, :] for im in images]
    return [np.ascontiguousarray(im) for im in images]


@pytest.mark.parametrize("crop", [32, 64])  # 64 > 48: the padded path
def test_store_batches_equal_file_batches_and_the_reference(toy, tmp_path, crop):
    build_store(toy, tmp_path / "store")
    store = DecodedStore(tmp_path / "store")
    from_files = PairedDataset(toy, crop=crop, seed=3)
    from_store = PairedDataset(toy, crop=crop, seed=3, store=store)
    for epoch in (0, 2):
        from_files.set_epoch(epoch)
        from_store.set_epoch(epoch)
        for i in range(len(toy)):
            a, b = from_files[i], from_store[i]
            ref = _reference_item(toy[i], crop, 3, epoch, i)
            for key, want in zip(("blurry", "sharp"), ref, strict=True):
                assert a[key].dtype == torch.float32
                assert torch.equal(a[key], b[key])
                assert torch.equal(a[key], torch.from_numpy(want))


def test_whole_images_from_the_store_equal_the_files(toy, tmp_path):
    build_store(toy, tmp_path / "store")
    ds = PairedDataset(toy, crop=None, store=DecodedStore(tmp_path / "store"))
    assert torch.equal(ds[0]["blurry"], torch.from_numpy(read_image(toy[0].blurry)))


def test_rebuild_reuses_unchanged_images_and_drops_stale_ones(toy, tmp_path):
    out = tmp_path / "store"
    first = build_store(toy, out, workers=2)
    n = len(image_paths(toy))
    assert first == {**first, "images": n, "decoded": n, "reused": 0, "removed": 0}
    assert first["bytes"] == sum(read_image(p).size for p in image_paths(toy))
    again = build_store(toy, out)
    assert (again["decoded"], again["reused"]) == (0, n)
    # One image changes on disk, one pair leaves the manifest.
    changed = toy[0].blurry
    write_image(changed, np.zeros((48, 48, 3), np.uint8))
    os.utime(changed, ns=(1, 1))
    third = build_store(toy[:-1], out)
    assert third["decoded"] == 1 and third["removed"] == 2
    assert len(list(out.glob("*.npy"))) == n - 2
    store = DecodedStore(out)
    assert not store.array(changed).any()
    with pytest.raises(DataError, match="not in the decoded store"):
        store.array(toy[-1].blurry)


def test_store_errors_name_the_problem(toy, tmp_path):
    with pytest.raises(DataError, match="no decoded store"):
        DecodedStore(tmp_path / "missing")
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / INDEX).write_text("{}")
    with pytest.raises(DataError, match="not a version-1"):
        DecodedStore(tmp_path / "bad")
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 20)
    rec = Record(str(broken), str(broken), toy[0].task, toy[0].dataset, "train")
    with pytest.raises(DataError, match="broken.png"):
        build_store([rec], tmp_path / "store2")


def test_training_from_the_store_gives_the_same_weights(tmp_path):
    from demoe.models.checkpoint import load_model
    from demoe.train.loop import config_identity, train
    from demoe.train.toy import toy_config

    files = write_toy_aioblur(tmp_path / "toy", size=40, train_per_dataset=2)
    build_store(read_manifest(files["train"]), tmp_path / "store")
    plain = toy_config(files, tmp_path / "plain", schedule={"steps": 3})
    stored = toy_config(
        files, tmp_path / "stored", schedule={"steps": 3}, data={"store": str(tmp_path / "store")}
    )
    assert config_identity(plain) == config_identity(stored)  # a store is result-neutral
    a, b = load_model(train(plain)), load_model(train(stored))
    for (name, x), (_, y) in zip(a.state_dict().items(), b.state_dict().items(), strict=True):
        assert torch.equal(x, y), name
