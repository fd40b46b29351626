"""GPU benchmarks of the paper-size models; prints one JSON per row.

* ``forward``: DeMoE k=1 (router choosing, top-1) and the NAFNet baseline of the same
  size, batch 1 at 256², eval, fused channels_last path (what ``demoe.load_model``
  runs), ``inference_mode``; median ms over ``--repeats`` after ``--warmup``, CUDA
  events. Paper Table 1 reports 13.1 ms for DeMoE and 8 ms for NAFNet on an RTX 4090.
* ``train``: training samples/s per GPU at 384² crops (App. C) of the trainer's
  step (channels_last, fused AdamW, bf16 autocast, L1 + 0.001·CE): stage 1 (the k=1
  network, ``demoe_baseline``) and stage 2 (DeMoE with the encoder frozen, soft mixing
  of every expert as in training, Eq. 2), 8 crops per GPU (global batch 32 on 4 GPUs).
* peak memory (``max_memory_allocated``) of every row.

    python benchmarks/bench_gpu.py [--device cuda] [--repeats 50] [--batch 8]

Runs on CPU too (``--device cpu``, for a smoke test; CPU numbers are not GPU numbers).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch
from train_step import adamw, random_batches, sync, train_step

from demoe.experiments.catalogue import STAGE2_FROZEN
from demoe.models import create_model
from demoe.models.fuse import fuse_by_default
from demoe.train.stages import freeze, set_train_mode

PAPER_MS = {"demoe_k1": 13.1, "nafnet_baseline": 8.0}  # Table 1, RTX 4090


def _reset_peak(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)


def _peak_mib(device: torch.device) -> float | None:
    return torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else None


def _timed(step, repeats: int, warmup: int, device: torch.device) -> list[float]:
    """Milliseconds of each of ``repeats`` calls of ``step`` after ``warmup`` calls."""
    for _ in range(warmup):
        step()
    times = []
    for _ in range(repeats):
        sync(device)
        start = time.perf_counter()
        step()
        sync(device)
        times.append(1000 * (time.perf_counter() - start))
    return times


def forward_rows(device: torch.device, size: int, repeats: int, warmup: int) -> list[dict]:
    rows = []
    for row, preset in (("demoe_k1", "demoe"), ("nafnet_baseline", "demoe_baseline")):
        model = fuse_by_default(create_model(preset).to(device).eval())
        x = torch.rand(1, 3, size, size, device=device)
        _reset_peak(device)
        with torch.inference_mode():
            ms = _timed(lambda m=model, x=x: m(x), repeats, warmup, device)
        rows.append(
            {
                "bench": "forward",
                "row": row,
                "device": str(device),
                "size": size,
                "ms_median": statistics.median(ms),
                "paper_ms_rtx4090": PAPER_MS[row],
                "peak_mib": _peak_mib(device),
            }
        )
    return rows


def train_rows(
    device: torch.device, crop: int, batch: int, repeats: int, warmup: int
) -> list[dict]:
    rows = []
    amp = device.type == "cuda"
    data = {
        k: v.to(device, memory_format=torch.channels_last) if v.dim() == 4 else v.to(device)
        for k, v in random_batches(1, batch, crop)[0].items()
    }
    for stage, preset in (("stage1", "demoe_baseline"), ("stage2", "demoe")):
        model = create_model(preset).to(device).train().to(memory_format=torch.channels_last)
        if stage == "stage2":
            freeze(model, STAGE2_FROZEN)
            set_train_mode(model)
        params = [p for p in model.parameters() if p.requires_grad]
        optimizer = adamw(params, device, fast=True)
        step = train_step(
            model, optimizer, params, device, bf16=amp, memory_format=torch.channels_last
        )
        _reset_peak(device)
        ms = _timed(lambda step=step: step(data), repeats, warmup, device)
        rows.append(
            {
                "bench": "train",
                "row": stage,
                "device": str(device),
                "crop": crop,
                "batch_per_gpu": batch,
                "samples_per_s": batch / (statistics.median(ms) / 1000),
                "bf16": amp,
                "peak_mib": _peak_mib(device),
            }
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--size", type=int, default=256, help="forward image side")
    parser.add_argument("--crop", type=int, default=384, help="training crop")
    parser.add_argument("--batch", type=int, default=8, help="training crops per GPU")
    parser.add_argument("--repeats", type=int, default=50)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--train-repeats", type=int, default=20)
    args = parser.parse_args()
    device = torch.device(args.device)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
        print(json.dumps({"gpu": torch.cuda.get_device_name(device), "torch": torch.__version__}))
    for row in forward_rows(device, args.size, args.repeats, args.warmup):
        print(json.dumps(row))
    for row in train_rows(device, args.crop, args.batch, args.train_repeats, args.warmup):
        print(json.dumps(row))


if __name__ == "__main__":
    main()
