"""Killed writes leave nothing a loader mistakes for data.

A forked writer exports a model folder and writes training checkpoints in a loop and is
killed with SIGKILL at random moments; after every kill the folder must load, the latest
checkpoint must load, and a resumed run must sweep the leftovers and go on.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import random
import time
from pathlib import Path

import pytest
import torch

from demoe.io.atomic import atomic_path, is_temporary, sweep_stale_temps, write_text
from demoe.models.checkpoint import load_model, save_model
from demoe.models.registry import create_model
from demoe.train import checkpoints as ckpt
from demoe.train.loop import Trainer
from demoe.train.toy import toy_config, write_toy_aioblur

KILLS = 12


@pytest.fixture(scope="module")
def toy(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return write_toy_aioblur(tmp_path_factory.mktemp("toy"))


def _write_forever(model, folder: Path, checkpoints: Path, payload: dict) -> None:
    """Child: alternate two weight versions and checkpoint steps until killed."""
    torch.set_num_threads(1)
    for i in range(10**9):
        _fill(model, i % 2)
        save_model(model, folder)
        ckpt.save_checkpoint(checkpoints, 100 + i, payload, keep=2)


def _fill(model: torch.nn.Module, value: float) -> None:
    with torch.no_grad():
        for p in model.parameters():
            p.fill_(value)


def _kill_at_random(target, args, rng: random.Random) -> None:
    proc = mp.get_context("fork").Process(target=target, args=args)
    proc.start()
    time.sleep(rng.uniform(0.02, 0.4))
    proc.kill()
    proc.join()
    assert proc.exitcode == -9


def _leftovers(*folders: Path) -> list[Path]:
    return [p for f in folders for p in f.iterdir() if is_temporary(p)]


def test_killed_export_and_checkpoint_writes_never_poison_the_folders(toy, tmp_path):
    config = toy_config(toy, tmp_path, schedule={"steps": 2}, run={"checkpoint_every": 1})
    trainer = Trainer(config)
    trainer.fit()
    model_dir, ckpt_dir = Path(config.output), Path(config.checkpoint_dir)
    payload = ckpt.load_checkpoint(ckpt_dir)
    big = create_model("nafnet", width=16)  # ~17 MB: most kills land inside a write
    export = tmp_path / "export"
    _fill(big, 1)
    save_model(big, export)
    padded = {**payload, "padding": torch.zeros(4 * 2**20)}

    rng, mid_write = random.Random(12), 0
    for _ in range(KILLS):
        _kill_at_random(_write_forever, (big, export, ckpt_dir, padded), rng)
        mid_write += bool(_leftovers(export, ckpt_dir))
        loaded = load_model(export)  # never the half-written temp file
        values = {float(p.detach().flatten()[0]) for p in loaded.parameters()}
        assert len(values) == 1 and values <= {0.0, 1.0}
        assert ckpt.load_checkpoint(ckpt_dir)["state"] == payload["state"]
    assert mid_write >= 1  # kills did land inside writes (most do: the writes dominate)

    # the leftover temps never match an output glob, and the next run sweeps them
    litter = _leftovers(export, ckpt_dir)
    assert not [p for p in export.glob("*.safetensors") if p in litter]
    assert all(ckpt.checkpoint_path(ckpt_dir, 0).name not in p.name for p in litter)
    for p in list(ckpt_dir.glob("step_*.pt"))[:-1]:
        p.unlink()  # keep one checkpoint of this run's identity to resume from
    (ckpt_dir / ".step_00000002.pt.abcdefgh.tmp").mkdir()  # a killed checkpoint write
    (model_dir / ".model.safetensors.abcdefgh.tmp").mkdir()  # a killed export
    resumed = Trainer(config, resume="auto")
    assert resumed.state.step == 2
    assert not _leftovers(ckpt_dir, model_dir)
    resumed.fit()
    load_model(model_dir)


def test_failed_write_leaves_the_old_file_and_no_temp(tmp_path):
    target = tmp_path / "a.txt"
    write_text(target, "old")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("killed")
    assert target.read_text() == "old" and os.listdir(tmp_path) == ["a.txt"]


def test_sweep_removes_only_temps(tmp_path):
    keep = [".hidden_user_file", "step_00000001.pt", "notes.tmp", ".x.tmp"]
    for name in keep:
        (tmp_path / name).write_text("x")
    stale = tmp_path / ".model.safetensors.k3j_9xq2.tmp"
    stale.mkdir()
    (stale / "model.safetensors").write_text("half")
    legacy = tmp_path / ".model.safetensors.ab_d1234.safetensors"  # earlier versions' temps
    legacy.write_text("half")
    assert sweep_stale_temps(tmp_path) == [legacy, stale]
    assert sorted(os.listdir(tmp_path)) == sorted(keep)


def test_exports_get_umask_permissions(tmp_path):
    old = os.umask(0o022)
    try:
        save_model(create_model("nafnet", width=4), tmp_path / "m")
    finally:
        os.umask(old)
    for name in ("model.safetensors", "config.json"):
        assert (tmp_path / "m" / name).stat().st_mode & 0o777 == 0o644


def test_superseded_checkpoints_are_kept_per_identity_and_the_change_is_named(
    toy, tmp_path, capsys
):
    manifest = tmp_path / "train.jsonl"
    lines = Path(toy["train"]).read_text().splitlines(keepends=True)
    manifest.write_text("".join(lines))
    run = {"checkpoint_every": 1}
    config = toy_config({**toy, "train": str(manifest)}, tmp_path, schedule={"steps": 1}, run=run)
    first = Trainer(config)
    first.fit()
    manifest.write_text("".join(lines[:-2]))  # the data moved or changed
    second = Trainer(config, resume="auto")
    assert second.state.step == 0
    assert f"file {manifest} changed" in capsys.readouterr().err
    second.fit()
    other = toy_config({**toy, "train": str(manifest)}, tmp_path, schedule={"steps": 2}, run=run)
    Trainer(other, resume="auto")
    assert "schedule.steps: 1 -> 2" in capsys.readouterr().err
    kept = Path(config.checkpoint_dir) / "superseded"
    assert sorted(p.name for p in kept.iterdir()) == sorted({first.identity, second.identity})
    for identity in (first.identity, second.identity):
        assert [p.name for p in ckpt.list_checkpoints(kept / identity)] == ["step_00000001.pt"]


def test_the_longest_legal_name_is_written_through_a_short_hidden_temp(tmp_path):
    target = tmp_path / ("a" * 251 + ".png")  # 255 bytes, the most a file system allows
    with atomic_path(target) as tmp:
        staging = tmp.parent
        tmp.write_bytes(b"x")
    assert target.read_bytes() == b"x" and os.listdir(tmp_path) == [target.name]
    assert staging.parent == tmp_path and is_temporary(staging)
    assert staging.name.startswith(".") and len(staging.name) < 32
    staging.mkdir()  # as a killed write leaves it
    assert sweep_stale_temps(tmp_path) == [staging] and os.listdir(tmp_path) == [target.name]
