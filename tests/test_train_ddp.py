"""DistributedDataParallel with two gloo processes on CPU (what torchrun launches)."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from demoe.train.config import from_dict
from demoe.train.toy import toy_config, write_toy_aioblur


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
    writes: list[str] = []
    real_replace = os.replace

    def recording_replace(src, dst, *args, **kwargs):  # every atomic write ends here
        writes.append(str(dst))
        return real_replace(src, dst, *args, **kwargs)

    os.replace = recording_replace
    from demoe.train.loop import Trainer

    trainer = Trainer(from_dict(config))
    trainer.fit()
    params = {k: v.tolist() for k, v in trainer.model.state_dict().items()}
    os.replace = real_replace
    Path(report, f"rank{rank}.json").write_text(
        json.dumps({"writes": writes, "params": params, "batches": trainer.batch_per_rank})
    )
    dist.destroy_process_group()


def test_two_gloo_processes_stay_in_sync(tmp_path):
    manifests = write_toy_aioblur(tmp_path / "toy")
    config = toy_config(
        manifests, tmp_path / "run", schedule={"steps": 2}, run={"checkpoint_every": 1}
    ).to_dict()
    mp.spawn(_worker, args=(2, _free_port(), config, str(tmp_path)), nprocs=2, join=True)
    r0, r1 = (json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1))
    assert r0["batches"] == r1["batches"] == 2  # global batch 4 split over 2 processes
    assert r0["params"] == r1["params"]
    assert r1["writes"] == []
    names = {Path(w).name for w in r0["writes"]}
    assert {"model.safetensors", "config.json", "step_00000002.pt", "train_log.jsonl"} <= names
