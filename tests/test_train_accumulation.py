"""Gradient accumulation: micro-batches add up to the update of one large batch, on one
process and under DDP, and a run that accumulates still resumes exactly."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from demoe.errors import ConfigError
from demoe.train import checkpoints as ckpt
from demoe.train.config import apply_overrides, from_dict
from demoe.train.loop import Trainer
from demoe.train.toy import toy_config, write_toy_aioblur


@pytest.fixture(scope="module")
def toy(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return write_toy_aioblur(tmp_path_factory.mktemp("toy"))


def _config(toy, out, accum: int, preset: str = "nafnet", **sections):
    """Batch 8 in ``accum`` micro-batches; NAFNet by default, as DeMoE's router dropout
    draws other random numbers for two micro-batches than for one batch (equal in
    expectation only)."""
    return toy_config(
        toy, out, preset, data={"batch_size": 8}, optim={"grad_accum": accum}, **sections
    )


def _state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def _max_difference(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> float:
    assert a.keys() == b.keys()
    return max(float((a[k].double() - b[k].double()).abs().max()) for k in a)


def test_two_micro_batches_update_like_one_batch(toy, tmp_path):
    sections = {"schedule": {"steps": 2}, "run": {"log_every": 1}}
    whole = Trainer(_config(toy, tmp_path / "whole", 1, **sections))
    split = Trainer(_config(toy, tmp_path / "split", 2, **sections))
    assert (whole.micro_batch, split.micro_batch) == (8, 4)
    start = _state(whole.model)
    whole.fit()
    split.fit()
    assert _max_difference(start, _state(whole.model)) > 1e-4
    assert _max_difference(_state(whole.model), _state(split.model)) < 1e-6
    # the last step's (clipped) gradients, the logged loss terms and gradient norms
    for p, q in zip(whole.params, split.params, strict=True):
        torch.testing.assert_close(q.grad, p.grad, rtol=1e-4, atol=1e-7)
    logs = [[r for r in t.state.log if r["kind"] == "train"] for t in (whole, split)]
    for a, b in zip(*logs, strict=True):
        for key in ("l1", "loss", "grad_norm", "lr"):
            assert b[key] == pytest.approx(a[key], rel=1e-5), key


def test_resume_with_accumulation_is_exact(toy, tmp_path):
    # 20 pairs / batch 8 = 2 steps per epoch: the resume point (step 3) is mid-epoch;
    # router noise and dropout make the result depend on every micro-batch's random state
    model = dict(toy_config(toy, tmp_path).model.overrides)
    sections = dict(
        schedule={"steps": 4},
        run={"checkpoint_every": 3, "val_every": 2},
        model={
            "preset": "demoe",
            "overrides": model,
            "gating": "auto",
            "router_noise": 0.5,
            "task": "auto",
        },
    )
    straight = Trainer(_config(toy, tmp_path / "a", 2, "demoe", **sections))
    straight.fit()
    resumed = Trainer(
        _config(toy, tmp_path / "b", 2, "demoe", **sections),
        resume=ckpt.checkpoint_path(tmp_path / "a" / "checkpoints", 3),
    )
    assert resumed.state.step == 3 and resumed.state.batch_in_epoch == 1
    resumed.fit()
    a, b = _state(straight.model), _state(resumed.model)
    assert all(torch.equal(a[k], b[k]) for k in a)
    drop = ("samples_per_s",)
    log_a = [{k: v for k, v in r.items() if k not in drop} for r in straight.state.log]
    log_b = [{k: v for k, v in r.items() if k not in drop} for r in resumed.state.log]
    assert log_a == log_b


def test_accumulation_setting(toy, tmp_path):
    good = toy_config(toy, tmp_path).to_dict()
    good["optim"].pop("grad_accum")  # optional: a config file may leave it out
    assert from_dict(good).optim.grad_accum == 1
    assert from_dict(apply_overrides(good, ["optim.grad_accum=2"])).optim.grad_accum == 2
    with pytest.raises(ConfigError, match="data.batch_size 4 is not divisible by optim.grad"):
        from_dict(apply_overrides(good, ["optim.grad_accum=3"]))
    with pytest.raises(ConfigError, match="optim.grad_accum"):
        from_dict(apply_overrides(good, ["optim.grad_accum=0"]))


# ---------------------------------------------------------------------- under DDP
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank: int, world: int, port: int, config: dict, report: str) -> None:
    os.environ.update(
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
        RANK=str(rank),
        WORLD_SIZE=str(world),
        LOCAL_RANK=str(rank),
    )
    torch.set_num_threads(1)
    trainer = Trainer(from_dict(config))
    trainer.fit()
    params = {k: v.tolist() for k, v in trainer.model.state_dict().items()}
    Path(report, f"rank{rank}.json").write_text(
        json.dumps({"params": params, "micro": trainer.micro_batch})
    )
    dist.destroy_process_group()


def test_two_processes_accumulating_match_one_process(toy, tmp_path):
    """Global batch 8 = 2 processes x 2 micro-batches x 2 crops: the sampler's shards of a
    step are the one process's batch, so the weights agree."""
    sections = {"schedule": {"steps": 2}}
    one = Trainer(_config(toy, tmp_path / "one", 1, **sections))
    one.fit()
    config = _config(toy, tmp_path / "ddp", 2, **sections).to_dict()
    mp.spawn(_worker, args=(2, _free_port(), config, str(tmp_path)), nprocs=2, join=True)
    r0, r1 = (json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1))
    assert r0["micro"] == r1["micro"] == 2
    assert r0["params"] == r1["params"]
    ddp = {k: torch.tensor(v) for k, v in r0["params"].items()}
    assert _max_difference(_state(one.model), ddp) < 1e-6
