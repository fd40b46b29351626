"""Checkpoints that are trusted only when they deserve it: ambiguous model folders, non-finite
weights, damaged training checkpoints, numpy metadata, decompression bombs."""

from __future__ import annotations

import json
import os
import random
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

import demoe
from demoe.cli import main
from demoe.errors import CheckpointError, run_reporting_errors
from demoe.io.checkpoint import read_checkpoint, weight_files
from demoe.io.checksum import checksum_path, recorded_checksum, sha256_of
from demoe.models.registry import create_model
from demoe.train import checkpoints as ckpt
from demoe.train.loop import Trainer
from demoe.train.toy import toy_config, write_toy_aioblur


@pytest.fixture(scope="module")
def toy(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return write_toy_aioblur(tmp_path_factory.mktemp("toy"))


@pytest.fixture
def nafnet() -> torch.nn.Module:
    return create_model("nafnet", width=4)


def _same(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


# ---------------------------------------------------------------- model folders


def test_a_second_weight_file_is_an_error_naming_both(tmp_path, nafnet):
    folder = demoe.save_model(nafnet, tmp_path / "m")
    zeros = {k: torch.zeros_like(v) for k, v in nafnet.state_dict().items()}
    save_file(zeros, str(folder / "model_old.safetensors"))
    with pytest.raises(CheckpointError, match=r"model\.safetensors, model_old\.safetensors"):
        demoe.load_model(folder)


def _shard(folder: Path, model: torch.nn.Module) -> dict[str, str]:
    """Split ``model``'s weights into two shards with an index, as Hugging Face does."""
    state = model.state_dict()
    keys = list(state)
    half = len(keys) // 2
    mapping = {
        k: ("model-00001-of-00002.safetensors" if i < half else "model-00002-of-00002.safetensors")
        for i, k in enumerate(keys)
    }
    for name in set(mapping.values()):
        save_file({k: state[k] for k, v in mapping.items() if v == name}, str(folder / name))
    index = {"metadata": {}, "weight_map": mapping}
    (folder / "model.safetensors.index.json").write_text(json.dumps(index))
    return mapping


def test_an_index_file_says_which_shards_and_keys(tmp_path, nafnet):
    folder = tmp_path / "m"
    folder.mkdir()
    mapping = _shard(folder, nafnet)
    zeros = {k: torch.zeros_like(v) for k, v in nafnet.state_dict().items()}
    save_file(zeros, str(folder / "model_old.safetensors"))  # not in the index: not read
    assert [p.name for p in weight_files(folder)] == sorted(set(mapping.values()))
    assert _same(nafnet, demoe.load_model(folder))

    index = json.loads((folder / "model.safetensors.index.json").read_text())
    moved = next(iter(index["weight_map"]))
    index["weight_map"][moved] = "model-00002-of-00002.safetensors"  # the index lies
    (folder / "model.safetensors.index.json").write_text(json.dumps(index))
    with pytest.raises(CheckpointError, match="does not assign|lacks"):
        demoe.load_model(folder)
    index["weight_map"][moved] = "../elsewhere.safetensors"
    (folder / "model.safetensors.index.json").write_text(json.dumps(index))
    with pytest.raises(CheckpointError, match="not a .safetensors file of the same folder"):
        read_checkpoint(folder)


# ---------------------------------------------------------------- non-finite weights


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_non_finite_weights_are_refused_with_the_tensor_name(tmp_path, nafnet, bad, capsys):
    state = nafnet.state_dict()
    key = "ending.weight"
    state[key].view(-1)[3] = bad
    save_file(state, str(tmp_path / "w.safetensors"))
    with pytest.raises(CheckpointError, match=rf"tensor '{key}' holds 1 non-finite"):
        demoe.load_model(tmp_path / "w.safetensors")
    assert main(["models", "info", str(tmp_path / "w.safetensors")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("demoe models: error:") and key in err and "\n" not in err


def test_restore_refuses_non_finite_weights_before_writing(tmp_path, nafnet, capsys):
    from PIL import Image

    state = nafnet.state_dict()
    state["intro.weight"].view(-1)[0] = float("nan")
    save_file(state, str(tmp_path / "w.safetensors"))
    Image.new("RGB", (16, 16), (120, 80, 40)).save(tmp_path / "a.png")
    args = [str(tmp_path / "a.png"), "--model", str(tmp_path / "w.safetensors")]
    assert main(["restore", *args, "--out", str(tmp_path / "out"), "--quiet"]) == 2
    assert "intro.weight" in capsys.readouterr().err
    assert not list(tmp_path.glob("out/*.png"))


# ---------------------------------------------------------------- training checkpoints


def _payload(step: int, **extra) -> dict:
    return {
        "model": {"w": torch.full((64, 64), float(step))},
        "optimizer": {},
        "scheduler": {},
        "scaler": {},
        "state": {"step": step},
        "rng": [],
        "identity": "abc",
        **extra,
    }


def _flip(path: Path, offset_from_middle: int = 0, count: int = 4) -> None:
    data = bytearray(path.read_bytes())
    mid = len(data) // 2 + offset_from_middle
    for i in range(mid, mid + count):
        data[i] ^= 0xFF
    path.write_bytes(bytes(data))


def _random_bytes(path: Path) -> None:
    data = bytearray(path.read_bytes())
    rng = random.Random(0)
    mid = len(data) // 2
    data[mid : mid + 256] = bytes(rng.randrange(256) for _ in range(256))
    path.write_bytes(bytes(data))


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _empty(path: Path) -> None:
    path.write_bytes(b"")


def test_checkpoints_carry_a_checksum_sidecar(tmp_path):
    path = ckpt.save_checkpoint(tmp_path, 1, _payload(1), keep=2)
    assert recorded_checksum(path) == sha256_of(path)
    for step in (2, 3):
        ckpt.save_checkpoint(tmp_path, step, _payload(step), keep=2)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "step_00000002.pt",
        "step_00000002.pt.sha256",
        "step_00000003.pt",
        "step_00000003.pt.sha256",
    ]


@pytest.mark.parametrize("damage", [_flip, _random_bytes, _truncate, _empty])
def test_a_damaged_latest_checkpoint_falls_back_with_a_notice(tmp_path, damage, capsys):
    for step in (1, 2):
        ckpt.save_checkpoint(tmp_path, step, _payload(step), keep=2)
    latest = ckpt.checkpoint_path(tmp_path, 2)
    damage(latest)
    with pytest.raises(CheckpointError, match="damaged training checkpoint"):
        ckpt.load_checkpoint(latest)
    assert ckpt.load_checkpoint(tmp_path)["state"]["step"] == 1
    err = capsys.readouterr().err
    assert err.startswith("demoe notice: damaged training checkpoint")
    assert latest.name in err and "falling back" in err and len(err.splitlines()) == 1


@pytest.mark.parametrize("damage", [_flip, _random_bytes, _truncate, _empty])
def test_without_a_sidecar_damage_is_caught_by_the_zip_crcs(tmp_path, damage):
    """A kill between the checkpoint and its checksum, or a checkpoint of an earlier version."""
    path = ckpt.save_checkpoint(tmp_path, 1, _payload(1), keep=2)
    checksum_path(path).unlink()
    assert ckpt.load_checkpoint(path)["state"]["step"] == 1  # intact: loads
    damage(path)
    with pytest.raises(CheckpointError, match="damaged training checkpoint"):
        ckpt.load_checkpoint(path)


def test_no_intact_checkpoint_is_an_error_not_a_silent_restart(tmp_path):
    for step in (1, 2):
        _flip(ckpt.save_checkpoint(tmp_path, step, _payload(step), keep=2))
    with pytest.raises(CheckpointError, match="no intact checkpoint.*step_00000001.pt"):
        ckpt.load_checkpoint(tmp_path)


def test_a_resave_never_keeps_the_old_sidecar(tmp_path, monkeypatch):
    """Killed between the checkpoint and its sidecar: the file is unverified, not refused."""
    path = ckpt.save_checkpoint(tmp_path, 1, _payload(1), keep=2)

    def killed(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(ckpt, "write_checksum", killed)
    with pytest.raises(KeyboardInterrupt):
        ckpt.save_checkpoint(tmp_path, 1, _payload(1, extra=torch.ones(3)), keep=2)
    assert not checksum_path(path).exists()
    assert torch.equal(ckpt.load_checkpoint(tmp_path)["extra"], torch.ones(3))


def test_supersede_moves_the_sidecars_and_the_logs_too(tmp_path):
    ckpt.save_checkpoint(tmp_path, 1, _payload(1), keep=2)
    (tmp_path / "tensorboard").mkdir()
    (tmp_path / "tensorboard" / "events.out.tfevents.1").write_bytes(b"x")
    (tmp_path / "train_log.jsonl").write_text("{}\n", encoding="utf-8")
    moved = ckpt.supersede(tmp_path, "abc")
    assert sorted(p.name for p in moved.iterdir()) == [
        "step_00000001.pt",
        "step_00000001.pt.sha256",
        "tensorboard",
        "train_log.jsonl",
    ]
    assert not (tmp_path / "tensorboard").exists()
    assert ckpt.load_checkpoint(moved)["state"]["step"] == 1


def test_resume_auto_passes_over_a_damaged_latest_checkpoint(toy, tmp_path, capsys):
    config = toy_config(toy, tmp_path, schedule={"steps": 2}, run={"checkpoint_every": 1})
    straight = Trainer(config)
    straight.fit()
    _random_bytes(ckpt.checkpoint_path(config.checkpoint_dir, 2))
    resumed = Trainer(config, resume="auto")
    assert resumed.state.step == 1
    assert "demoe notice: damaged training checkpoint" in capsys.readouterr().err
    resumed.fit()  # continues, and writes an intact step 2 over the damaged one
    assert _same(straight.model, resumed.model)
    assert (
        ckpt.load_checkpoint(ckpt.checkpoint_path(config.checkpoint_dir, 2))["state"]["step"] == 2
    )


def test_a_checkpoint_without_identity_is_a_one_line_error(toy, tmp_path, capsys):
    config = toy_config(toy, tmp_path, schedule={"steps": 1}, run={"checkpoint_every": 1})
    payload = _payload(1)
    del payload["identity"]
    path = ckpt.save_checkpoint(config.checkpoint_dir, 1, payload, keep=2)
    with pytest.raises(CheckpointError, match="has no 'identity'"):
        ckpt.load_checkpoint(path)
    status = run_reporting_errors("demoe train", lambda: Trainer(config, resume=path))
    err = capsys.readouterr().err.strip()
    assert status == 2 and "has no 'identity'" in err and "\n" not in err


# ---------------------------------------------------------------- numpy metadata


def test_numpy_metadata_loads_through_the_allow_list(tmp_path, nafnet):
    meta = {
        "iter": np.int64(300000),
        "lr": np.float32(1e-3),
        "best": np.float64(31.2),
        "flag": np.bool_(True),
        "psnr": np.arange(5, dtype=np.float32),
    }
    torch.save({"params": nafnet.state_dict(), **meta}, tmp_path / "basicsr.pth")
    assert _same(nafnet, demoe.load_model(tmp_path / "basicsr.pth"))

    path = ckpt.save_checkpoint(tmp_path / "c", 3, _payload(3, meta=meta), keep=2)
    loaded = ckpt.load_checkpoint(path)["meta"]
    assert loaded["iter"] == 300000 and isinstance(loaded["iter"], np.int64)
    assert np.array_equal(loaded["psnr"], meta["psnr"])


class _Code:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


@pytest.mark.parametrize(
    "extra", [np.array([_Code()], dtype=object), _Code()], ids=["object_array", "reduce"]
)
def test_code_is_still_refused_beside_numpy(tmp_path, nafnet, extra, capfd):
    torch.save({"params": nafnet.state_dict(), "x": extra}, tmp_path / "evil.pth")
    with pytest.raises(CheckpointError, match="needs pickled code"):
        read_checkpoint(tmp_path / "evil.pth")
    assert "pwned" not in capfd.readouterr().out


# ---------------------------------------------------------------- decompression bombs


def _bomb(path: Path, size: int = 50 * 2**20) -> None:
    """A zip laid out like torch.save's, whose tensor member inflates ~1000×."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("archive/data.pkl", b"\x80\x02}q\x00.")
        archive.writestr("archive/data/0", bytes(size))
        archive.writestr("archive/version", b"3\n")
    assert path.stat().st_size * 500 < size


def test_a_decompression_bomb_is_refused_before_it_is_inflated(tmp_path):
    _bomb(tmp_path / "bomb.pth")
    with pytest.raises(CheckpointError, match="expand to .* bytes"):
        read_checkpoint(tmp_path / "bomb.pth")
    (tmp_path / "c").mkdir()
    _bomb(ckpt.checkpoint_path(tmp_path / "c", 1))
    with pytest.raises(CheckpointError, match="expand to .* bytes"):
        ckpt.load_checkpoint(tmp_path / "c")
