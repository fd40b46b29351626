"""Peak memory of whole-image vs tiled inference with the paper-size DeMoE.

Each row runs in a fresh process: the peak RSS rise over the RSS after the model and the
input image are built (CPU), or ``max_memory_allocated`` (CUDA), for one eval-mode forward
through ``demoe.models.tiling.infer`` (fused path, ``inference_mode``, random weights); and
the whole process's peak (CPU: peak RSS, with Python, torch and the model).
The last lines extrapolate to a 6000×4000 image: whole-image memory scales with the
pixels; tiled memory is one tile's forward plus the image-sized buffers (input, output
accumulator, blending weights, the normalised result: 3 + 3 + 1 + 3 floats per pixel).

    python benchmarks/bench_tiling.py [--size 1024 768] [--tile 512] [--device cpu]
    python benchmarks/bench_tiling.py --size 6000 4000 --modes tiled  # measured, not extrapolated
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import resource
import time

import psutil
import torch

from demoe.models import create_model
from demoe.models.fuse import fuse_by_default
from demoe.models.tiling import Tiling, infer

#: The rows: the whole image at once, the image in tiles, and one tile alone.
MODES = ("whole", "tiled", "one tile")

#: Floats per pixel held by tiled inference besides the tile's forward (see docstring).
BUFFER_FLOATS_PER_PIXEL = 10


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _run(height: int, width: int, tile: int | None, device: str, queue: mp.Queue) -> None:
    torch.manual_seed(0)
    model = fuse_by_default(create_model("demoe").eval().to(device))
    x = torch.rand(1, 3, height, width, device=device)
    with torch.inference_mode():  # build the fused copy before measuring
        model(torch.rand(1, 3, 32, 32, device=device))
    before = psutil.Process().memory_info().rss / 2**20
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    with torch.inference_mode():
        tiling = Tiling(tile, min(192, tile // 4)) if tile else None
        infer(model, x, "auto", tiling, budget_bytes=float("inf"))
    seconds = time.perf_counter() - start
    if device.startswith("cuda"):
        peak = process = torch.cuda.max_memory_allocated() / 2**20
    else:
        process = _peak_rss_mib()
        peak = process - before
    queue.put((peak, process, seconds))


def measure(height: int, width: int, tile: int | None, device: str) -> tuple[float, float, float]:
    """(peak rise MiB, the process's peak MiB, seconds) of one forward in a fresh process."""
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_run, args=(height, width, tile, device, queue))
    proc.start()
    result = queue.get()
    proc.join()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, nargs=2, default=(1024, 768), metavar=("W", "H"))
    parser.add_argument("--tile", type=int, default=512)
    parser.add_argument("--device", default="cpu")
    parser.add_argument(
        "--modes",
        nargs="+",
        choices=MODES,
        default=list(MODES),
        help="which rows to run (leave out 'whole' where the whole image cannot fit)",
    )
    args = parser.parse_args()
    width, height = args.size
    shapes = {
        "whole": (height, width, None),
        "tiled": (height, width, args.tile),
        "one tile": (args.tile, args.tile, None),
    }
    rows = {mode: measure(*shapes[mode], args.device) for mode in args.modes}
    print("| image | mode | peak MiB | process peak MiB | s |\n|---|---|---|---|---|")
    for mode, (peak, process, seconds) in rows.items():
        h, w, _ = shapes[mode]
        label = mode if mode == "whole" else f"{mode} {args.tile}"
        print(f"| {w}×{h} | {label} | {peak:.0f} | {process:.0f} | {seconds:.1f} |")
    if {"whole", "one tile"} <= rows.keys():
        big = 6000 * 4000
        whole = rows["whole"][0] * big / (width * height)
        tiled = rows["one tile"][0] + BUFFER_FLOATS_PER_PIXEL * 4 * big / 2**20
        print(f"6000×4000 extrapolated: whole {whole / 1024:.1f} GiB, tiled {tiled / 1024:.1f} GiB")


if __name__ == "__main__":
    main()
