"""The trainer: falling loss, exact resume, λ = 0, NaN handling and export."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

from demoe.errors import ConfigError
from demoe.models.checkpoint import load_model
from demoe.models.demoe import DeMoE
from demoe.train import checkpoints as ckpt
from demoe.train.config import load_config
from demoe.train.loop import Trainer, TrainingDiverged, config_identity, train
from demoe.train.toy import toy_config, write_toy_aioblur


@pytest.fixture(scope="module")
def toy(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return write_toy_aioblur(tmp_path_factory.mktemp("toy"))


def _log(folder) -> list[dict]:
    return [json.loads(line) for line in (folder / "train_log.jsonl").read_text().splitlines()]


def test_few_steps_loss_falls_and_exports(toy, tmp_path):
    config = toy_config(
        toy,
        tmp_path,
        schedule={"steps": 24},
        optim={"lr": 2e-3, "min_lr": 1e-4},
        run={"val_every": 12},
    )
    out = train(config)
    l1 = [r["l1"] for r in _log(out) if r["kind"] == "train"]
    assert len(l1) == 24
    assert sum(l1[-4:]) / 4 < 0.8 * sum(l1[:4]) / 4
    val = [r for r in _log(out) if r["kind"] == "val"]
    assert [r["step"] for r in val] == [12, 24]
    assert set(val[-1]["psnr"]) == {
        "defocus",
        "global_motion",
        "local_motion",
        "synth_global_motion",
        "low_light",
    }
    assert 0 <= val[-1]["router_accuracy"] <= 1
    model = load_model(out)
    assert isinstance(model, DeMoE) and model.config["block_experts"] == 1
    meta = json.loads((out / "config.json").read_text())["metadata"]
    assert meta["experiment"] == "toy" and meta["steps"] == 24
    assert load_config(out / "resolved_config.yaml") == config


def _params(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def test_resume_is_exact(toy, tmp_path):
    # 20 train pairs / batch 4 = 5 batches per epoch: the resume point (step 4) is mid-epoch
    # and training crosses an epoch boundary; router dropout + noise exercise the RNG state.
    sections = dict(
        schedule={"steps": 8},
        run={"checkpoint_every": 4, "val_every": 2},
        model={
            "preset": "demoe",
            "overrides": dict(toy_config(toy, tmp_path).model.overrides),
            "gating": "auto",
            "router_noise": 0.5,
            "task": "auto",
        },
    )
    straight = Trainer(toy_config(toy, tmp_path / "a", **sections))
    straight.fit()
    assert [p.name for p in ckpt.list_checkpoints(tmp_path / "a" / "checkpoints")] == [
        "step_00000004.pt",
        "step_00000008.pt",
    ]
    resumed = Trainer(
        toy_config(toy, tmp_path / "b", **sections),
        resume=tmp_path / "a" / "checkpoints" / "step_00000004.pt",
    )
    assert resumed.state.step == 4 and resumed.state.batch_in_epoch == 4
    resumed.fit()
    a, b = _params(straight.model), _params(resumed.model)
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)
    log_a = [{k: v for k, v in r.items() if k != "samples_per_s"} for r in straight.state.log]
    log_b = [{k: v for k, v in r.items() if k != "samples_per_s"} for r in resumed.state.log]
    assert log_a == log_b


def test_resume_auto_and_config_mismatch(toy, tmp_path, capsys):
    config = toy_config(toy, tmp_path, schedule={"steps": 2}, run={"checkpoint_every": 1})
    train(config)
    again = Trainer(config, resume="auto")
    assert again.state.step == 2
    other = toy_config(toy, tmp_path, schedule={"steps": 2}, optim={"lr": 5e-4})
    with pytest.raises(ConfigError, match="another config"):
        Trainer(other, resume=tmp_path / "checkpoints")
    with pytest.raises(ConfigError, match="already has checkpoints"):
        Trainer(other)
    first = Trainer(config, resume="auto").identity
    assert Trainer(other, resume="auto").state.step == 0
    assert "optim.lr: 0.001 -> 0.0005" in capsys.readouterr().err
    assert ckpt.list_checkpoints(tmp_path / "checkpoints") == []
    kept = tmp_path / "checkpoints" / "superseded" / first
    assert len(ckpt.list_checkpoints(kept)) == 2


def _router(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {
        k: v.clone() for k, v in model.mlp_branch.state_dict().items() if "num_batches" not in k
    }


@pytest.mark.parametrize("lam", [0.0, 0.001])
def test_lambda_zero_leaves_router_untrained(toy, tmp_path, lam):
    trainer = Trainer(toy_config(toy, tmp_path, loss={"lambda_cls": lam}, schedule={"steps": 3}))
    weights = {k: v for k, v in _router(trainer.model).items() if "running" not in k}
    trainer.fit()
    after = _router(trainer.model)
    changed = any(not torch.equal(v, after[k]) for k, v in weights.items())
    assert changed == (lam > 0)
    has_ce = ["ce" in r for r in trainer.state.log if r["kind"] == "train"]
    assert all(has_ce) if lam > 0 else not any(has_ce)


def _nan_after(trainer: Trainer, good_calls: int, bad_calls: int | None = None):
    real = trainer.compute_loss
    calls = {"n": 0}

    def compute_loss(batch):
        loss, parts = real(batch)
        calls["n"] += 1
        bad = calls["n"] > good_calls and (
            bad_calls is None or calls["n"] <= good_calls + bad_calls
        )
        return (loss * math.nan if bad else loss), parts

    trainer.compute_loss = compute_loss
    return calls


def test_nan_steps_are_skipped(toy, tmp_path):
    trainer = Trainer(toy_config(toy, tmp_path, schedule={"steps": 4}))
    calls = _nan_after(trainer, good_calls=1, bad_calls=3)
    with pytest.warns(UserWarning, match="skipped"):
        trainer.fit()
    assert calls["n"] == 7 and trainer.state.step == 4
    assert all(math.isfinite(v.float().sum()) for v in trainer.model.state_dict().values())


def test_nan_streak_stops_and_keeps_last_good_checkpoint(toy, tmp_path):
    config = toy_config(toy, tmp_path, schedule={"steps": 40}, run={"checkpoint_every": 1})
    trainer = Trainer(config)
    _nan_after(trainer, good_calls=3)
    with pytest.warns(UserWarning), pytest.raises(TrainingDiverged, match="10 non-finite"):
        trainer.fit()
    assert trainer.state.step == 3
    last = ckpt.latest_checkpoint(config.checkpoint_dir)
    assert last.name == "step_00000003.pt"
    payload = ckpt.load_checkpoint(last)
    assert payload["state"]["step"] == 3
    assert all(torch.isfinite(v.float()).all() for v in payload["model"].values())
    assert not (tmp_path / "model" / "model.safetensors").exists()


def test_identity_follows_config_and_file_contents(toy, tmp_path):
    manifest = tmp_path / "train.jsonl"
    lines = Path(toy["train"]).read_text().splitlines(keepends=True)
    manifest.write_text("".join(lines))
    config = toy_config({**toy, "train": str(manifest)}, tmp_path)
    before = config_identity(config)
    config.run.log_every = 5  # bookkeeping only
    assert config_identity(config) == before
    manifest.write_text("".join(lines[:-1]))
    assert config_identity(config) != before
    config.optim.lr = 2e-3
    assert len({before, config_identity(config)}) == 2
