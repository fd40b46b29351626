"""The training step lever by lever: which speed-ups pay, and do they change the loss?

One training step of stage 1 (``demoe_baseline``: one expert, L1 + 0.001·CE, everything
trains) or stage 2 (``demoe``: five experts mixed softly as in Eq. 2, encoder, router and
intro frozen, L1 only; paper Sec. 3.4), at paper width by default. Starting from a plain
fp32 NCHW loop with a non-fused AdamW, each lever is switched on alone, then all that
paid together:

* ``channels_last``: model and batches in NHWC (cuDNN's fast layout);
* ``fused_adamw``: ``AdamW(fused=True)`` on CUDA, ``foreach=True`` on CPU;
* ``bf16``: ``torch.autocast(dtype=bfloat16)``;
* ``compile``: ``torch.compile(model)``.

``--curve N`` also trains N steps in fp32 and with the kept levers from the same weights
on the same batches and prints the largest relative gap of the two loss curves (moving
averages over 20 steps), so a lever that speeds up but drifts is caught. Data loading is
excluded (batches are made once). Examples::

    python benchmarks/bench_train_levers.py --device cuda --stage 1 --crop 384 --batch 8
    python benchmarks/bench_train_levers.py --device cuda --stage 2 --curve 300
    python benchmarks/bench_train_levers.py --width 8 --blocks 1 --crop 64 --batch 4  # CPU
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
from train_step import adamw, random_batches, train_step

from demoe.experiments.catalogue import STAGE2_FROZEN
from demoe.models.registry import build_model, model_config
from demoe.train.stages import freeze

LEVERS = ("channels_last", "fused_adamw", "bf16", "compile")


@dataclass(frozen=True)
class Setup:
    stage: int
    device: torch.device
    levers: frozenset[str]


def make_model(args: argparse.Namespace) -> torch.nn.Module:
    n = args.blocks
    preset = "demoe_baseline" if args.stage == 1 else "demoe"
    spec = model_config(
        preset, width=args.width, middle_blk_num=n, enc_blk_nums=[n] * 4, dec_blk_nums=[n] * 4
    )
    torch.manual_seed(0)
    return build_model(spec)


def batches(n: int, args: argparse.Namespace) -> list[dict[str, torch.Tensor]]:
    return random_batches(n, args.batch, args.crop)


def make_step(model: torch.nn.Module, setup: Setup) -> Callable[[dict], float]:
    """A training step with ``setup.levers``; returns the loss."""
    device, levers = setup.device, setup.levers
    model = copy.deepcopy(model).to(device).train()
    if setup.stage == 2:
        freeze(model, STAGE2_FROZEN)
    fmt = torch.channels_last if "channels_last" in levers else torch.contiguous_format
    model = model.to(memory_format=fmt)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = adamw(params, device, fast="fused_adamw" in levers, weight_decay=1e-3)
    step = train_step(
        torch.compile(model) if "compile" in levers else model,
        optimizer,
        params,
        device,
        bf16="bf16" in levers,
        lambda_cls=0.001 if setup.stage == 1 else 0.0,
        memory_format=fmt,
    )
    return lambda batch: float(step(batch))


def samples_per_s(step: Callable[[dict], float], data: list[dict], warmup: int) -> float:
    """Timed steps after ``warmup`` ones (each step returns a Python float: synchronised)."""
    for b in data[:warmup]:
        step(b)
    start = time.perf_counter()
    for b in data[warmup:]:
        step(b)
    return (len(data) - warmup) * data[0]["blurry"].shape[0] / (time.perf_counter() - start)


def curve_gap(model: torch.nn.Module, setup: Setup, args: argparse.Namespace) -> float:
    """Largest relative gap between the fp32 and the ``setup`` loss curves (20-step means,
    or the mean of all steps when there are fewer)."""
    data = batches(args.curve, args)
    window = min(20, len(data))
    base = Setup(setup.stage, setup.device, frozenset())
    curves = []
    for s in (base, setup):
        step = make_step(model, s)
        losses = torch.tensor([step(b) for b in data])
        curves.append(losses.unfold(0, window, 1).mean(1))
    return float(((curves[1] - curves[0]).abs() / curves[0]).max())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--stage", type=int, choices=[1, 2], default=1)
    parser.add_argument("--width", type=int, default=32, help="32 = the paper")
    parser.add_argument("--blocks", type=int, default=2, help="blocks per level (2 = the paper)")
    parser.add_argument("--crop", type=int, default=384)
    parser.add_argument("--batch", type=int, default=8, help="per GPU (paper: 32 over 4 GPUs)")
    parser.add_argument("--steps", type=int, default=20, help="timed steps per round")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--curve", type=int, default=0, help="steps of the loss-curve check")
    parser.add_argument(
        "--levers", nargs="+", choices=LEVERS, default=list(LEVERS), help="levers to try"
    )
    args = parser.parse_args()
    device = torch.device(args.device)
    torch.backends.cudnn.benchmark = device.type == "cuda"
    model = make_model(args)
    data = batches(args.warmup + args.steps, args)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    variants = {"plain fp32": frozenset()} | {f"+ {lv}": frozenset({lv}) for lv in args.levers}
    rates = {}
    for name, levers in variants.items():
        step = make_step(model, Setup(args.stage, device, levers))
        rates[name] = statistics.median(
            samples_per_s(step, data, args.warmup) for _ in range(args.rounds)
        )
    plain = rates["plain fp32"]
    kept = frozenset(lv for lv in args.levers if rates[f"+ {lv}"] > 1.03 * plain)
    step = make_step(model, Setup(args.stage, device, kept))
    rates[f"kept: {', '.join(sorted(kept)) or 'none'}"] = statistics.median(
        samples_per_s(step, data, args.warmup) for _ in range(args.rounds)
    )
    print(
        f"stage {args.stage}, width {args.width}, {args.blocks} blocks/level, "
        f"{args.crop}² crops, batch {args.batch}, {device}"
    )
    for name, rate in rates.items():
        print(f"{name:45s} {rate:9.1f} samples/s  {rate / plain:5.2f}x")
    if device.type == "cuda":
        print(f"peak memory {torch.cuda.max_memory_allocated(device) / 2**30:.2f} GiB")
    if args.curve:
        gap = curve_gap(model, Setup(args.stage, device, kept), args)
        print(f"loss curves over {args.curve} steps, kept levers vs fp32: max gap {gap:.2%}")


if __name__ == "__main__":
    main()
