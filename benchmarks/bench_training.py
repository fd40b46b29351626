"""Training throughput (samples/s): the trainer's step vs a straightforward loop.

Both train the same model on the same random batches with L1 + 0.001·CE (paper Sec. 3.4):

* ``plain``: NCHW, ``torch.optim.AdamW`` without foreach/fused, fp32;
* ``trainer``: ``demoe.train.loop.Trainer`` as configured for the device: channels_last,
  fused AdamW on CUDA (foreach on CPU), bf16 autocast on CUDA, gradient clipping.

Data loading is excluded (batches are made once), so the numbers compare the step.
Not a timed test:

    python benchmarks/bench_training.py                       # small profile, CPU
    python benchmarks/bench_training.py --device cuda --width 32 --blocks 2 --crop 256 --batch 8
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch
from train_step import adamw, random_batches, sync, train_step

from demoe.io.atomic import write_text
from demoe.models.registry import build_model, model_config
from demoe.train.loop import Trainer
from demoe.train.toy import toy_config, write_toy_aioblur


def _time(
    step: Callable[[dict], None], batches: list[dict], warmup: int, device: torch.device
) -> float:
    for b in batches[:warmup]:
        step(b)
    sync(device)
    start = time.perf_counter()
    for b in batches[warmup:]:
        step(b)
    sync(device)
    return time.perf_counter() - start


def _arch(args: argparse.Namespace) -> dict:
    n = args.blocks
    return model_config(
        args.preset, width=args.width, middle_blk_num=n, enc_blk_nums=[n] * 4, dec_blk_nums=[n] * 4
    )


def _trainer(args: argparse.Namespace, folder: Path) -> Trainer:
    manifests = write_toy_aioblur(folder / "toy", size=max(32, args.crop))
    overrides = {k: v for k, v in _arch(args).items() if k != "architecture"}
    config = toy_config(
        manifests,
        folder,
        preset=args.preset,
        model={
            "preset": args.preset,
            "overrides": overrides,
            "gating": "auto",
            "router_noise": 0.0,
            "task": "auto",
        },
        data={"crop": args.crop, "batch_size": args.batch},
        schedule={"steps": 10**6},
        run={"device": args.device, "amp": "auto", "channels_last": True},
    )
    trainer = Trainer(config)
    trainer.model.train()
    return trainer


def _plain_step(model: torch.nn.Module, device: torch.device) -> Callable[[dict], torch.Tensor]:
    params = list(model.parameters())
    return train_step(model, adamw(params, device, fast=False), params, device)


def run(args: argparse.Namespace) -> dict[str, float]:
    """Median samples/s of each variant over ``rounds`` alternating rounds (shared
    machines: alternating keeps background load from favouring one variant)."""
    batches = random_batches(args.warmup + args.steps, args.batch, args.crop)
    with tempfile.TemporaryDirectory() as tmp:
        trainer = _trainer(args, Path(tmp))
        device = trainer.device
        plain = build_model(_arch(args)).to(device).train()
        plain.load_state_dict(trainer.model.state_dict())
        steps = {"plain": _plain_step(plain, device), "trainer": lambda b: trainer._train_step([b])}
        rates: dict[str, list[float]] = {k: [] for k in steps}
        for r in range(args.rounds):
            for name in sorted(steps, reverse=r % 2 == 1):
                seconds = _time(steps[name], batches, args.warmup, device)
                rates[name].append(args.steps * args.batch / seconds)
    plain_rate, fast_rate = (statistics.median(rates[k]) for k in ("plain", "trainer"))
    return {
        "device": str(device),
        "preset": args.preset,
        "width": args.width,
        "blocks": args.blocks,
        "crop": args.crop,
        "batch": args.batch,
        "plain_samples_per_s": plain_rate,
        "trainer_samples_per_s": fast_rate,
        "speedup": fast_rate / plain_rate,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--preset", default="demoe")
    parser.add_argument("--width", type=int, default=8, help="8 = the small profile")
    parser.add_argument("--blocks", type=int, default=1, help="blocks per level (1 small, 2 paper)")
    parser.add_argument("--crop", type=int, default=64)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--steps", type=int, default=10, help="timed steps per round")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--out", help="append the result as one JSON line to this file")
    args = parser.parse_args()
    result = run(args)
    print(
        f"{'device':8} {'model':16} {'crop':>5} {'batch':>5} {'plain/s':>9} {'trainer/s':>10} {'x':>6}"
    )
    print(
        f"{result['device']:8} {args.preset + '-w' + str(args.width):16} {args.crop:5d} "
        f"{args.batch:5d} {result['plain_samples_per_s']:9.1f} "
        f"{result['trainer_samples_per_s']:10.1f} {result['speedup']:6.2f}"
    )
    if args.out:
        out = Path(args.out)
        previous = out.read_text(encoding="utf-8") if out.exists() else ""
        write_text(out, previous + json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
