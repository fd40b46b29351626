"""The training step the benchmarks time: random batches, AdamW, L1 + λ·CE, clipping.

Shared by ``bench_gpu.py``, ``bench_train_levers.py`` and ``bench_training.py`` (run as
scripts, so this folder is on ``sys.path``). It mirrors the trainer's step
(``demoe.train.loop``): L1 on the restored image plus ``lambda_cls`` × the router's
cross-entropy (paper Sec. 3.4; 0 drops it, as in stage 2), ``zero_grad``, backward,
gradient norm clipped at 0.01, AdamW with betas (0.9, 0.9).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch
import torch.nn.functional as F

Batch = dict[str, torch.Tensor]


def sync(device: torch.device) -> None:
    """Wait for the device's queued work (CUDA); a no-op on CPU."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def random_batches(n: int, batch: int, crop: int, seed: int = 0) -> list[Batch]:
    """``n`` batches of ``blurry``/``sharp`` crops in [0, 1] and ``task_index`` labels."""
    g = torch.Generator().manual_seed(seed)
    size = (batch, 3, crop, crop)
    return [
        {
            "blurry": torch.rand(size, generator=g),
            "sharp": torch.rand(size, generator=g),
            "task_index": torch.randint(0, 5, (batch,), generator=g),
        }
        for _ in range(n)
    ]


def adamw(
    params: Iterable[torch.nn.Parameter],
    device: torch.device,
    fast: bool,
    weight_decay: float = 0.01,
) -> torch.optim.AdamW:
    """AdamW at lr 1e-3, betas (0.9, 0.9); ``fast``: fused on CUDA, foreach on CPU (the
    trainer's choice), else the plain per-parameter loop."""
    if fast:
        impl = {"fused": True} if device.type == "cuda" else {"foreach": True}
    else:
        impl = {"fused": False, "foreach": False}
    return torch.optim.AdamW(params, lr=1e-3, betas=(0.9, 0.9), weight_decay=weight_decay, **impl)


def train_step(
    forward: Callable[..., Any],
    optimizer: torch.optim.Optimizer,
    params: list[torch.nn.Parameter],
    device: torch.device,
    *,
    bf16: bool = False,
    lambda_cls: float = 0.001,
    memory_format: torch.memory_format = torch.contiguous_format,
) -> Callable[[Batch], torch.Tensor]:
    """One optimisation step of ``forward`` (a DeMoE/NAFNet taking ``return_aux=True``)
    on a :data:`Batch`; returns the loss, detached and not synchronised."""

    def step(batch: Batch) -> torch.Tensor:
        x = batch["blurry"].to(device, non_blocking=True).contiguous(memory_format=memory_format)
        y = batch["sharp"].to(device, non_blocking=True)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            out = forward(x, return_aux=True)
            loss = F.l1_loss(out.output.float(), y)
            if lambda_cls:
                target = batch["task_index"].to(device)
                loss = loss + lambda_cls * F.cross_entropy(out.logits.float(), target)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 0.01)
        optimizer.step()
        return loss.detach()

    return step
