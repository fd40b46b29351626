"""Forward time and peak memory of DeMoE against NAFNet and the published forward.

Rows, per image size (default 256², 512², 1024²; batch 1; eval; random weights):

* ``published``: a straightforward eager re-statement of the authors' DeMoE forward
  (written below: masked accumulation into a zero tensor for every MoE block, the
  NAFBlock as printed, ``torch.no_grad``), on the same weights;
* ``demoe_k1``: our DeMoE, router choosing, top-1, fused + channels_last + inference_mode;
* ``demoe_dense``: every expert run and mixed (soft gating), same fast path;
* ``nafnet_baseline``: the paper's NAFNet baseline (preset ``nafnet``, 10.08 M: the k=1
  network without router, Table 1), same fast path.

Targets (paper Sec. 5, "as efficient as NAFNet"): demoe_k1 ≤ 1.10× nafnet_baseline;
demoe_k1 ≥ 1.3× faster than ``published`` at 256² with outputs equal to 1e-4.
Peak memory: on CUDA ``max_memory_allocated``; on CPU the rise of the process's
peak RSS over its RSS before the first forward, each row in a fresh process.

    python benchmarks/bench_models.py [--sizes 256 512 1024] [--device cpu] [--repeats 5]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import resource
import statistics
import time

import psutil
import torch
import torch.nn.functional as F

from demoe.models import DeMoE, create_model
from demoe.models.fuse import fuse_for_inference
from demoe.models.layers import pad_to_multiple

ROWS = ("published", "demoe_k1", "demoe_dense", "nafnet_baseline")


def published_forward(model: DeMoE, inp: torch.Tensor) -> torch.Tensor:
    """The authors' DeMoE forward, re-stated eagerly (top-k with masked accumulation)."""
    _, _, h, w = inp.shape
    inp = pad_to_multiple(inp, model.padder_size)
    x = model.intro(inp)
    encs = []
    for encoder, down in zip(model.encoders, model.downs, strict=True):
        x = encoder(x)
        encs.append(x)
        x = down(x)
    weights = F.softmax(model.mlp_branch(x), dim=1)
    x = _published_moe(model.experts[0], model.middle_blks(x), weights)
    for decoder, up, skip, moe in zip(
        model.decoders, model.ups, encs[::-1], model.experts[1:], strict=True
    ):
        x = _published_moe(moe, decoder(up(x) + skip), weights)
    x = model.ending(x) + inp
    return x[:, :, :h, :w]


def _published_moe(block, feat: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    k = block.used
    top_w, top_i = torch.topk(weights, k, dim=1)
    top_w = top_w / top_w.sum(dim=1, keepdim=True)
    mask = torch.zeros_like(weights).scatter_(1, top_i, 1.0)
    out = torch.zeros_like(feat)
    for e, expert in enumerate(block.experts):
        rows = mask[:, e].bool()
        if rows.any():
            w = top_w[rows, (top_i[rows] == e).nonzero()[:, 1]]
            out[rows] += expert(feat[rows]) * w.view(-1, 1, 1, 1)
    return out


def build(row: str, device: torch.device):
    torch.manual_seed(0)
    if row == "nafnet_baseline":
        model = create_model("nafnet")
    else:
        model = create_model("demoe", gating="soft" if row == "demoe_dense" else "auto")
    with torch.no_grad():  # non-trivial affine parameters so folding is exercised
        for name, p in model.named_parameters():
            if name.endswith(("beta", "gamma")) or ".norm" in name:
                p.add_(torch.randn_like(p) * 0.1)
    model = model.eval().to(device)
    if row == "published":
        return model, lambda x: published_forward(model, x), torch.contiguous_format, torch.no_grad
    fused = fuse_for_inference(model)
    return model, fused, torch.channels_last, torch.inference_mode


def measure(row: str, size: int, device_name: str, repeats: int, warmup: int, queue) -> None:
    device = torch.device(device_name)
    _, fn, fmt, grad_ctx = build(row, device)
    x = torch.rand(1, 3, size, size, device=device).contiguous(memory_format=fmt)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    rss_before = psutil.Process().memory_info().rss
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    times = []
    with grad_ctx():
        for i in range(warmup + repeats):
            sync()
            t0 = time.perf_counter()
            fn(x)
            sync()
            if i >= warmup:
                times.append((time.perf_counter() - t0) * 1e3)
    if device.type == "cuda":
        peak = torch.cuda.max_memory_allocated(device)
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - rss_before
    queue.put({"row": row, "size": size, "ms": statistics.median(times), "peak_mib": peak / 2**20})


def check_equal(size: int, device: torch.device) -> float:
    model, fused, _, _ = build("demoe_k1", device)
    x = torch.rand(2, 3, size, size, device=device)
    with torch.no_grad():
        ref = published_forward(model, x)
        ours = fused(x.contiguous(memory_format=torch.channels_last))
    return float((ref - ours).abs().max())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 512, 1024])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=2)
    args = parser.parse_args()

    device = torch.device(args.device)
    label = (
        torch.cuda.get_device_name(device)
        if device.type == "cuda"
        else f"CPU, {torch.get_num_threads()} threads"
    )
    print(f"device: {label}; torch {torch.__version__}; batch 1; median of {args.repeats}")
    print(f"max |published - ours| (256², batch of 2): {check_equal(256, device):.2e}")
    ctx = mp.get_context("spawn")
    print("| size | row | ms | peak MiB | vs nafnet_baseline | published / row |")
    print("|---|---|---|---|---|---|")
    for size in args.sizes:
        results = {}
        for row in ROWS:
            queue = ctx.Queue()
            proc = ctx.Process(
                target=measure, args=(row, size, args.device, args.repeats, args.warmup, queue)
            )
            proc.start()
            results[row] = queue.get()
            proc.join()
        base, pub = results["nafnet_baseline"]["ms"], results["published"]["ms"]
        for row in ROWS:
            r = results[row]
            print(
                f"| {size} | {row} | {r['ms']:.1f} | {r['peak_mib']:.0f} | "
                f"{r['ms'] / base:.2f}× | {pub / r['ms']:.2f}× |"
            )


if __name__ == "__main__":
    main()
