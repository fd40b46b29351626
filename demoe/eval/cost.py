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
``torch.inference_mode``, on the device named in the result. The MAC count is itself a
forward on the same input, so it serves as each model's first warm-up; ``warmup`` counts
the untimed forwards after it. The cost table times its models interleaved
(:func:`runtime_repeats`): round ``r`` times every model once, in an order shuffled anew
each round, so a change of machine load between rounds hits every model alike and the
repeat ``r`` of two models form a pair (a ratio of runtimes gets a paired interval).
"""

from __future__ import annotations

import io
import math
import random
import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import NamedTuple, Protocol

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


#: The columns of the timing repeats (``results/tables/cost_runtime_repeats.csv``).
REPEAT_COLUMNS: tuple[str, ...] = ("model", "repeat", "runtime_ms")


def timing_order(repeats: Mapping[str, int], seed: int = 0) -> list[tuple[int, str]]:
    """The ``(repeat, model)`` forwards of an interleaved timing, in the order they run.

    Round ``r`` times once every model with more than ``r`` repeats, the models shuffled
    anew each round (``random.Random(seed)``: the same order in every run), so no model is
    always timed first in a round or always right after the same other model.
    """
    bad = {m: n for m, n in repeats.items() if n < 1}
    if bad or not repeats:
        raise ValueError(f"need repeats >= 1 for at least one model, got {dict(repeats)}")
    rng = random.Random(seed)
    order = []
    for r in range(max(repeats.values())):
        names = [m for m, n in repeats.items() if n > r]
        rng.shuffle(names)
        order += [(r, m) for m in names]
    return order


def forward_ms(
    model: nn.Module, x: torch.Tensor, timer: Callable[[], float] = time.perf_counter
) -> float:
    """Milliseconds of one forward of ``model`` on ``x``, CUDA synchronised on a GPU."""
    sync = torch.cuda.synchronize if x.is_cuda else (lambda: None)
    sync()
    start = timer()
    model(x)
    sync()
    return (timer() - start) * 1e3


def runtime_repeats(
    runs: Mapping[str, tuple[nn.Module, torch.Tensor]],
    repeats: Mapping[str, int],
    warmup: int = 0,
    seed: int = 0,
    timer: Callable[[], float] = time.perf_counter,
) -> pd.DataFrame:
    """Forward times of several models (``runs``: name → the network and its input),
    timed interleaved in :func:`timing_order` after ``warmup`` untimed forwards of each;
    one row per forward (:data:`REPEAT_COLUMNS`), in the order they ran."""
    if warmup < 0:
        raise ValueError(f"need warmup >= 0, got {warmup}")
    order = timing_order({m: repeats[m] for m in runs}, seed)
    rows = []
    with torch.inference_mode():
        for model, x in runs.values():
            for _ in range(warmup):
                model(x)
        for r, name in order:
            model, x = runs[name]
            rows.append((name, r, forward_ms(model, x, timer)))
    return pd.DataFrame(rows, columns=list(REPEAT_COLUMNS))


def mean_runtime_ms(model: nn.Module, x: torch.Tensor, repeats: int = 10, warmup: int = 3) -> float:
    """Mean forward time in milliseconds after ``warmup`` untimed forwards (Table 1:
    "averaging the forward pass"), CUDA synchronised when on a GPU."""
    times = runtime_repeats({"model": (model, x)}, {"model": repeats}, warmup)
    return statistics.fmean(times["runtime_ms"])


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"cpu ({torch.get_num_threads()} threads)"


@dataclass(frozen=True)
class Prepared:
    """A model ready to be timed: its exact sizes, and the network and input one of its
    forwards runs."""

    model: str
    params_m: float
    macs_g: float
    size: int
    device: str
    run: nn.Module
    x: torch.Tensor

    def cost(self, runtime_ms: float) -> Cost:
        return Cost(self.model, self.params_m, self.macs_g, runtime_ms, self.size, self.device)


def prepare(
    name: str,
    model: nn.Module,
    size: int = 256,
    device: str | torch.device = "cpu",
    run_model: nn.Module | None = None,
) -> Prepared:
    """Params (M) of ``model`` and MACs (G) at ``size``×``size`` of ``run_model``, the
    network one forward actually runs (default ``model``; for an ensemble that dispatches
    each image to one member, that member), left on ``device`` with its input."""
    device = torch.device(device)
    model = model.eval().to(device)
    run = model if run_model is None else run_model.eval().to(device)
    x = torch.rand(1, getattr(run, "img_channel", 3), size, size, device=device)
    params_m, macs_g = count_params(model) / 1e6, count_macs(run, x) / 1e9
    return Prepared(name, params_m, macs_g, size, device_name(device), run, x)


def prepare_preset(name: str, size: int = 256, device: str | torch.device = "cpu") -> Prepared:
    """:func:`prepare` of a model preset at its paper-scale size. An ensemble (DeMoE-5)
    runs one member per image, so its MACs and runtime are one member's."""
    model = create_model(name)
    run = next(iter(model.members.values())) if isinstance(model, TaskEnsemble) else None
    return prepare(name, model, size, device, run_model=run)


def measure_cost(
    name: str,
    model: nn.Module,
    size: int = 256,
    device: str | torch.device = "cpu",
    repeats: int = 10,
    warmup: int = 3,
    run_model: nn.Module | None = None,
) -> Cost:
    """:func:`prepare`, then the mean runtime (ms) of ``repeats`` forwards of the network
    it runs."""
    prepared = prepare(name, model, size, device, run_model)
    return prepared.cost(mean_runtime_ms(prepared.run, prepared.x, repeats, warmup))


def preset_cost(
    name: str, size: int = 256, device: str = "cpu", repeats: int = 10, warmup: int = 3
) -> Cost:
    """:func:`measure_cost` of a model preset (:func:`prepare_preset`)."""
    prepared = prepare_preset(name, size, device)
    return prepared.cost(mean_runtime_ms(prepared.run, prepared.x, repeats, warmup))


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


class CostTables(NamedTuple):
    """The cost table (one row per model) and the timing repeats behind its runtimes."""

    table: pd.DataFrame
    repeats: pd.DataFrame  # REPEAT_COLUMNS, one row per timed forward


def cost_table(
    models: Sequence[str],
    reported: Sequence[str | Path],
    paper_rows: Mapping[str, PaperCostRow],
    size: int = 256,
    device: str = "cpu",
    repeats: int = 10,
    warmup: int = 3,
    model_repeats: Mapping[str, int] | None = None,
    seed: int = 0,
) -> CostTables:
    """The cost of each model preset beside the paper's (``paper_rows``: preset → the
    paper row of its cost; a preset without one keeps its name and no reported values).

    Every model is built and counted first and kept in memory (about 2 GB for the
    paper-scale presets of the default config); then all are timed interleaved
    (:func:`runtime_repeats`), ``repeats`` times each or as ``model_repeats`` says for the
    models it names. ``runtime_ms`` is the mean over a model's repeats.
    """
    unknown = sorted(set(model_repeats or {}) - set(models))
    if unknown:
        raise ValueError(f"repeats given for models that are not measured: {unknown}")
    counts = {name: repeats for name in models} | dict(model_repeats or {})
    prepared = {name: prepare_preset(name, size, device) for name in models}
    runs = {name: (p.run, p.x) for name, p in prepared.items()}
    times = runtime_repeats(runs, counts, warmup, seed)
    means = times.groupby("model")["runtime_ms"].mean()
    rows = []
    for name, p in prepared.items():
        row = paper_rows.get(name)
        label = name if row is None else row.label
        cost = p.cost(float(means[name])).as_dict()
        rows.append({"method": label, **cost, **reported_cost(reported, row)})
    columns = ["model", "method", *COST_METRICS, "size", "device"]
    table = pd.DataFrame(rows)
    table = table[columns + [c for c in table.columns if c not in columns]]
    return CostTables(table, times)
