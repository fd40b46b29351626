"""Synthetic AIO-Blur generation speed: pairs/s per generator at 256 x 256 on one core.

The target is >= 20 pairs/s per core (benchmarks/README.md). Two numbers per generator: the
generator alone (sharp source + blur + noise, in memory) and with the two
PNGs written as the embedded default writes them.

    python benchmarks/bench_synthetic_generation.py [--size 256] [--pairs 30]
"""

from __future__ import annotations

import argparse
import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

from demoe.data.images import write_image  # noqa: E402
from demoe.data.synthetic.generators import GENERATORS  # noqa: E402


def bench(name: str, size: int, n: int, out: Path | None) -> float:
    fn, _ = GENERATORS[name]
    rng = np.random.default_rng(0)
    fn(rng, size, size)  # warm-up
    start = time.perf_counter()
    for i in range(n):
        pair = fn(rng, size, size)
        if out is not None:
            write_image(out / f"{name}_{i}_b.png", pair.blurry)
            write_image(out / f"{name}_{i}_s.png", pair.sharp)
    return n / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--pairs", type=int, default=30)
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(f"{'generator':15s} {'pairs/s':>9s} {'with PNG':>9s}   ({args.size}^2, 1 thread)")
    with tempfile.TemporaryDirectory() as tmp:
        for name in GENERATORS:
            mem = bench(name, args.size, args.pairs, None)
            disk = bench(name, args.size, args.pairs, Path(tmp))
            print(f"{name:15s} {mem:9.1f} {disk:9.1f}")


if __name__ == "__main__":
    main()
