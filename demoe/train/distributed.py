"""Process-group set-up for ``torchrun`` and the few collectives the trainer needs.

``torchrun --nproc-per-node N`` sets ``RANK``, ``WORLD_SIZE`` and ``LOCAL_RANK``; the
trainer then uses DistributedDataParallel with NCCL on GPUs and gloo on CPU. Without
those variables everything runs in one process and the collectives are no-ops.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel


@dataclass(frozen=True)
class DistInfo:
    rank: int
    world_size: int
    local_rank: int

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def select_device(name: str, local_rank: int = 0) -> torch.device:
    """``auto`` → ``cuda:<local_rank>`` when a GPU is present, else CPU."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(name)
    if device.type == "cuda" and device.index is None:
        device = torch.device("cuda", local_rank)
    return device


def init_distributed(device: torch.device) -> DistInfo:
    """Join the process group described by the torchrun environment (if any)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo(0, 1, 0)
    if not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        dist.init_process_group(backend=backend)
    return DistInfo(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")))


def all_true(flag: bool, device: torch.device) -> bool:
    """True when ``flag`` holds on every rank."""
    if not (dist.is_available() and dist.is_initialized()):
        return flag
    t = torch.tensor([1.0 if flag else 0.0], device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MIN)
    return bool(t.item() > 0)


def gather_objects(obj: object) -> list[object]:
    """Every rank's ``obj`` (a one-element list without a process group)."""
    if not (dist.is_available() and dist.is_initialized()):
        return [obj]
    out: list[object] = [None] * dist.get_world_size()
    dist.all_gather_object(out, obj)
    return out


def barrier() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.barrier()


def broadcast_buffers(module: torch.nn.Module) -> None:
    """Give every rank rank 0's buffers (BatchNorm statistics drift apart per rank)."""
    if not (dist.is_available() and dist.is_initialized()):
        return
    for buf in module.buffers():
        dist.broadcast(buf, src=0)


def gradient_sync(net: torch.nn.Module, sync: bool) -> contextlib.AbstractContextManager:
    """Context for a forward and backward of ``net``: under DDP with ``sync`` False the
    gradients only accumulate locally (``no_sync``), so an accumulated update all-reduces
    once, on its last micro-batch; a no-op otherwise."""
    if sync or not isinstance(net, DistributedDataParallel):
        return contextlib.nullcontext()
    return net.no_sync()
