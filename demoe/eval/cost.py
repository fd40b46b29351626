"""Computational cost of a model: parameters, MACs and runtime (paper Table 1, Fig. 6).

MACs are counted by ``torch.utils.flop_counter.FlopCounterMode`` on one forward pass
(convolutions and matrix products: FLOPs / 2); element-wise operations, normalisation
and pooling are not counted, as in ptflops' convention for these layers' MACs
being negligible. For DeMoE the count follows the top-k path actually run, so with
k=1 only one expert per MoE block is counted, while parameters count every expert.
Runtime is the median wall-clock time of ``repeats`` forwards after ``warmup`` ones,
under ``torch.inference_mode``, on the device named in the result.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import asdict, dataclass

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode


@dataclass(frozen=True)
class Cost:
    model: str
    params_m: float
    macs_g: float
    runtime_ms: float
    size: int
    device: str

    def as_dict(self) -> dict:
        return asdict(self)


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def count_macs(model: nn.Module, x: torch.Tensor) -> int:
    """Multiply-accumulates of one forward of ``model`` on ``x``."""
    counter = FlopCounterMode(display=False)
    with torch.inference_mode(), counter:
        model(x)
    return counter.get_total_flops() // 2


def median_runtime_ms(
    model: nn.Module, x: torch.Tensor, repeats: int = 10, warmup: int = 3
) -> float:
    """Median forward time in milliseconds (CUDA synchronised when on a GPU)."""
    sync = torch.cuda.synchronize if x.is_cuda else (lambda: None)
    times = []
    with torch.inference_mode():
        for i in range(warmup + repeats):
            sync()
            start = time.perf_counter()
            model(x)
            sync()
            if i >= warmup:
                times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times)


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"cpu ({torch.get_num_threads()} threads)"


def measure_cost(
    name: str,
    model: nn.Module,
    size: int = 256,
    device: str | torch.device = "cpu",
    repeats: int = 10,
    warmup: int = 3,
) -> Cost:
    """Params (M), MACs (G) at ``size``×``size`` and median runtime (ms) of ``model``."""
    device = torch.device(device)
    model = model.eval().to(device)
    x = torch.rand(1, getattr(model, "img_channel", 3), size, size, device=device)
    return Cost(
        model=name,
        params_m=count_params(model) / 1e6,
        macs_g=count_macs(model, x) / 1e9,
        runtime_ms=median_runtime_ms(model, x, repeats, warmup),
        size=size,
        device=device_name(device),
    )
