"""Computational cost of a model: parameters, MACs and runtime (paper Table 1, Table 5,
Fig. 6 left).

MACs are counted with ptflops (the counter of the NAFNet code base DeMoE builds on),
PyTorch backend, with one addition: :class:`~demoe.models.layers.LayerNorm2d` is counted
as ptflops counts ``nn.LayerNorm`` (one MAC per input element). That is the counting
that reproduces the paper's figures: plain ptflops, which skips our custom layer norm,
gives 10.98 / 11.01 / 20.32 / 15.07 / 13.13 / 42.69 G for NAFNet, DeMoE, "original
architecture", "more middle NAFBlocks", "more MoEBlocks" and width 64, 0.2–0.4 % under
the paper's 11.02 / 11.05 / 20.37 / 15.11 / 13.18 / 42.77 G; with the layer norms counted
every one rounds to the paper's value (tests/test_models_sizes.py). Element-wise
products (SimpleGate, the SCA and β/γ scalings) are not counted, as in ptflops.
For DeMoE the count follows the top-k path actually run, so with k=1 only one expert
per MoE block is counted, while parameters count every expert.

Runtime follows Table 1's protocol: the mean wall-clock time of ``repeats`` forwards
after ``warmup`` ones (the paper: 1000 at 256² on an RTX 4090), under
``torch.inference_mode``, on the device named in the result.
"""

from __future__ import annotations

import io
import math
import statistics
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Protocol

import pandas as pd
import torch
from ptflops import get_model_complexity_info
from ptflops.pytorch_ops import bn_flops_counter_hook
from torch import nn

from demoe.errors import DataError
from demoe.models.ensemble import TaskEnsemble
from demoe.models.layers import LayerNorm2d
from demoe.models.registry import create_model

#: Modules ptflops does not know, counted as ptflops counts their torch counterpart.
CUSTOM_MAC_HOOKS = {LayerNorm2d: bn_flops_counter_hook}


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
    """Multiply-accumulates of one forward of ``model`` on ``x``, per image of the batch
    (ptflops, PyTorch backend, :data:`CUSTOM_MAC_HOOKS`; see the module docstring)."""
    log = io.StringIO()
    training = model.training
    try:
        with torch.inference_mode():
            macs, _ = get_model_complexity_info(
                model,
                tuple(x.shape[1:]),
                print_per_layer_stat=False,
                as_strings=False,
                input_constructor=lambda _: x,
                ost=log,
                custom_modules_hooks=CUSTOM_MAC_HOOKS,
                backend="pytorch",
            )
    finally:
        model.train(training)
    if macs is None:
        detail = log.getvalue().strip().splitlines()
        raise RuntimeError(f"ptflops could not count MACs: {detail[-1] if detail else '?'}")
    return int(macs)


def mean_runtime_ms(model: nn.Module, x: torch.Tensor, repeats: int = 10, warmup: int = 3) -> float:
    """Mean forward time in milliseconds after ``warmup`` untimed forwards (Table 1:
    "averaging the forward pass"), CUDA synchronised when on a GPU."""
    if repeats < 1 or warmup < 0:
        raise ValueError(f"need repeats >= 1 and warmup >= 0, got {repeats} and {warmup}")
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
    return statistics.fmean(times)


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
    run_model: nn.Module | None = None,
) -> Cost:
    """Params (M) of ``model``; MACs (G) at ``size``×``size`` and mean runtime (ms) of
    ``run_model``, the network one forward actually runs (default ``model``; for an
    ensemble that dispatches each image to one member, that member)."""
    device = torch.device(device)
    model = model.eval().to(device)
    run = model if run_model is None else run_model.eval().to(device)
    x = torch.rand(1, getattr(run, "img_channel", 3), size, size, device=device)
    return Cost(
        model=name,
        params_m=count_params(model) / 1e6,
        macs_g=count_macs(run, x) / 1e9,
        runtime_ms=mean_runtime_ms(run, x, repeats, warmup),
        size=size,
        device=device_name(device),
    )


def preset_cost(
    name: str, size: int = 256, device: str = "cpu", repeats: int = 10, warmup: int = 3
) -> Cost:
    """:func:`measure_cost` of a model preset at its paper-scale size. An ensemble
    (DeMoE-5) runs one member per image, so its MACs and runtime are one member's."""
    model = create_model(name)
    run = next(iter(model.members.values())) if isinstance(model, TaskEnsemble) else None
    return measure_cost(name, model, size, device, repeats, warmup, run_model=run)


COST_METRICS: tuple[str, ...] = ("params_m", "macs_g", "runtime_ms")


class PaperCostRow(Protocol):
    """Where the paper prints a model's cost. The mapping preset → row is not this
    module's (it sits above it): the callers pass ``demoe.experiments.paper_rows.COST_ROWS``."""

    label: str  # the model as the cost table names it
    file: str  # its file under config/reported/
    method: str  # its method there


def reported_cost(reported: Sequence[str | Path], row: PaperCostRow | None) -> dict[str, float]:
    """The paper's params/MACs/runtime in ``row`` from the ``reported`` files (those of
    config/reported/, found by file name; NaN where there is no row, the paper gives none
    or the file is not given); DataError when a value appears twice."""
    empty = {f"reported_{m}": math.nan for m in COST_METRICS}
    if row is None:
        return empty
    paths = [Path(p) for p in reported if Path(p).name == row.file]
    if not paths:
        return empty
    path = paths[0]
    table = pd.read_csv(path)
    rows = table[(table["method"] == row.method) & table["metric"].isin(COST_METRICS)]
    if rows["metric"].duplicated().any():
        raise DataError(f"{path}: {row.method!r} has a cost metric twice")
    values = rows.set_index("metric")["value"]
    return {f"reported_{m}": float(values.get(m, math.nan)) for m in COST_METRICS}


def cost_table(
    models: Sequence[str],
    reported: Sequence[str | Path],
    paper_rows: Mapping[str, PaperCostRow],
    size: int = 256,
    device: str = "cpu",
    repeats: int = 10,
    warmup: int = 3,
) -> pd.DataFrame:
    """The cost of each model preset beside the paper's (``paper_rows``: preset → the
    paper row of its cost; a preset without one keeps its name and no reported values)."""
    rows = []
    for name in models:
        cost = preset_cost(name, size, device, repeats, warmup)
        row = paper_rows.get(name)
        label = name if row is None else row.label
        rows.append({"method": label, **cost.as_dict(), **reported_cost(reported, row)})
    columns = ["model", "method", *COST_METRICS, "size", "device"]
    table = pd.DataFrame(rows)
    return table[columns + [c for c in table.columns if c not in columns]]
