"""The cost table (results/tables/cost.csv) and the MAC counting conventions behind it."""

from __future__ import annotations

import importlib.util
import itertools
import math
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest
import torch

from demoe import paths
from demoe.analysis.intervals import IntervalSettings, estimate
from demoe.analysis.plots.cost import cost_figure, read_cost
from demoe.errors import DataError
from demoe.eval import cost as cost_module
from demoe.eval.cost import (
    REPEAT_COLUMNS,
    cost_table,
    count_macs,
    mean_runtime_ms,
    reported_cost,
    runtime_repeats,
    timing_order,
)
from demoe.experiments.paper_rows import COST_ROWS
from demoe.models.layers import LayerNorm2d

ROOT = Path(__file__).resolve().parents[1]
COLUMNS = [
    "model",
    "params_m",
    "macs_g",
    "runtime_ms",
    "device",
    "reported_params_m",
    "reported_macs_g",
    "reported_runtime_ms",
]


def write_reported(folder: Path) -> list[Path]:
    """Reported files in the config/reported layout (method,dataset,metric,value,source)."""
    folder.mkdir()
    rows = [
        ("NAFNet", "", "params_m", 10.08, "Table 1"),
        ("NAFNet", "", "macs_g", 11.02, "Table 1"),
        ("NAFNet", "", "runtime_ms", 8, "Table 1"),
        ("NAFNet", "realblur_j", "psnr", 29.18, "Table 1"),
    ]
    pd.DataFrame(rows, columns=["method", "dataset", "metric", "value", "source"]).to_csv(
        folder / "table1_aio_deblurring.csv", index=False
    )
    star = [("DeMoE-5", "", "", "params_m", 50.4, "Sec. 5")]
    pd.DataFrame(
        star, columns=["method", "setting", "dataset", "metric", "value", "source"]
    ).to_csv(folder / "table3_task_specific.csv", index=False)
    return sorted(folder.iterdir())


def test_cost_table_has_ours_beside_the_reported(tmp_path):
    reported = write_reported(tmp_path / "reported")
    table = cost_table(
        ["nafnet", "demoe5"], reported, COST_ROWS, size=32, repeats=1, warmup=0
    ).table
    assert set(COLUMNS) <= set(table.columns)
    nafnet, demoe5 = (table.set_index("model").loc[m] for m in ("nafnet", "demoe5"))
    assert (nafnet.reported_params_m, nafnet.reported_macs_g) == (10.08, 11.02)
    assert nafnet.params_m == pytest.approx(10.08, rel=0.005)
    assert demoe5.reported_params_m == 50.4 and math.isnan(demoe5.reported_macs_g)
    assert demoe5.macs_g == nafnet.macs_g  # one member runs per image
    assert nafnet.device.startswith("cpu")
    # a model without a paper row, or without its file, has no reported values
    assert "demoe_baseline" not in COST_ROWS
    assert all(math.isnan(v) for v in reported_cost(reported, None).values())
    assert all(math.isnan(v) for v in reported_cost(reported[1:], COST_ROWS["nafnet"]).values())


def test_a_cost_reported_twice_is_an_error(tmp_path):
    reported = write_reported(tmp_path / "reported")
    path = tmp_path / "reported" / "table1_aio_deblurring.csv"
    table = pd.read_csv(path)
    pd.concat([table, table.iloc[:1]]).to_csv(path, index=False)
    with pytest.raises(DataError, match="twice"):
        reported_cost(reported, COST_ROWS["nafnet"])


def test_every_paper_model_is_found_in_config_reported():
    files = [ROOT / "config" / "reported" / r.file for r in COST_ROWS.values()]
    if not all(f.is_file() for f in files):
        pytest.skip("config/reported/ lacks the Table 1/3/5 files")
    for model, row in COST_ROWS.items():
        assert not math.isnan(reported_cost(files, row)["reported_params_m"]), model


def test_layernorm2d_counts_one_mac_per_element_as_ptflops_layernorm():
    x = torch.rand(1, 4, 5, 6)
    assert count_macs(LayerNorm2d(4), x) == x.numel()


def test_runtime_is_a_mean_and_rejects_bad_counts():
    model = torch.nn.Identity()
    assert mean_runtime_ms(model, torch.rand(1, 3, 4, 4), repeats=2, warmup=0) >= 0
    with pytest.raises(ValueError, match="repeats"):
        mean_runtime_ms(model, torch.rand(1, 3, 4, 4), repeats=0)


def test_cost_figure_marks_reported_points(tmp_path):
    path = tmp_path / "cost.csv"
    pd.DataFrame(
        {
            "model": ["nafnet", "demoe5"],
            "method": ["NAFNet", "DeMoE-5"],
            "params_m": [10.08, 50.38],
            "macs_g": [11.02, 11.02],
            "runtime_ms": [9.0, 9.0],
            "size": [256, 256],
            "device": ["cpu", "cpu"],
            "reported_params_m": [10.08, 50.4],
            "reported_macs_g": [11.02, math.nan],
            "reported_runtime_ms": [8.0, math.nan],
        }
    ).to_csv(path, index=False)
    fig = cost_figure(read_cost(path))
    hollow = [c for c in fig.axes[0].collections if len(c.get_facecolors()) == 0]
    assert len(hollow) == 1  # NAFNet only: DeMoE-5 has no reported MACs
    old = pd.read_csv(path).drop(columns=["reported_params_m", "reported_macs_g"])
    old.to_csv(path, index=False)
    assert read_cost(path)["reported_macs_g"].isna().all()


def test_timing_order_times_every_model_once_per_round_in_a_fixed_shuffled_order():
    models = [f"m{i}" for i in range(6)]
    order = timing_order(dict.fromkeys(models, 4), seed=0)
    rounds = [[m for r, m in order if r == k] for k in range(4)]
    assert [r for r, _ in order] == sorted(r for r, _ in order)  # round after round
    assert all(sorted(names) == models for names in rounds)
    assert len({tuple(names) for names in rounds}) > 1  # the order changes between rounds
    assert timing_order(dict.fromkeys(models, 4), seed=0) == order
    # a model with more repeats goes on alone once the others are done
    longer = timing_order({"a": 2, "b": 5, "c": 5}, seed=1)
    assert Counter(m for _, m in longer) == {"a": 2, "b": 5, "c": 5}
    assert {m for r, m in longer if r >= 2} == {"b", "c"}
    with pytest.raises(ValueError, match="repeats"):
        timing_order({"a": 3, "b": 0})


class Recorder(torch.nn.Module):
    """A model that logs its name on every forward."""

    def __init__(self, name: str, log: list[str]) -> None:
        super().__init__()
        self.name, self.log = name, log

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.log.append(self.name)
        return x


def test_runtime_repeats_warm_every_model_then_time_them_interleaved():
    log: list[str] = []
    x = torch.zeros(1, 3, 2, 2)
    runs = {name: (Recorder(name, log), x) for name in ("a", "b", "c")}
    ticks = itertools.count(step=0.25)  # every forward takes 250 ms
    times = runtime_repeats(
        runs, {"a": 3, "b": 3, "c": 5}, warmup=2, seed=3, timer=lambda: next(ticks)
    )
    assert list(times.columns) == list(REPEAT_COLUMNS) == ["model", "repeat", "runtime_ms"]
    assert log[:6] == ["a", "a", "b", "b", "c", "c"]  # warm-up first, model by model
    order = timing_order({"a": 3, "b": 3, "c": 5}, seed=3)
    assert log[6:] == [m for _, m in order]
    assert list(zip(times["repeat"], times["model"], strict=True)) == order
    assert (times["runtime_ms"] == 250).all()


def load_script():
    spec = importlib.util.spec_from_file_location("cost_table", ROOT / "analysis" / "cost_table.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_script(tmp_path: Path, *extra: str) -> tuple[pd.DataFrame, pd.DataFrame, str]:
    results = tmp_path / "results"
    csv, md = paths.table(results, "cost"), paths.table(results, "cost", "md")
    load_script().main(
        ["--models", "nafnet", "demoe", "--size", "32", "--warmup", "0", "--csv", csv, "--md", md]
        + ["--repeats-csv", paths.cost_repeats(results), "--intervals", '{"resamples": 200}']
        + list(extra)
    )
    return pd.read_csv(csv), pd.read_csv(paths.cost_repeats(results)), Path(md).read_text()


def test_the_cost_table_gives_the_runtime_interval_of_its_repeats(tmp_path, monkeypatch):
    ticks = itertools.count(1.0)  # forwards of 1, 2, 3, ... ms
    monkeypatch.setattr(cost_module, "forward_ms", lambda model, x, timer: next(ticks))
    note = ["--note", "Miniature run.", "--note", "Cost columns: the paper's sizes."]
    table, repeats, md = run_script(tmp_path, "--repeats", "3", "--model-repeats", "demoe=6", *note)
    assert md.startswith("**Computational cost (Table 1's cost columns")
    assert md.endswith("- Miniature run.\n- Cost columns: the paper's sizes.\n")
    assert list(repeats.columns) == ["model", "repeat", "runtime_ms"]
    assert Counter(repeats["model"]) == {"nafnet": 3, "demoe": 6}
    columns = list(table.columns)
    assert columns[columns.index("runtime_ms") :][:3] == [
        "runtime_ms",
        "runtime_ci_low",
        "runtime_ci_high",
    ]
    for row in table.itertuples():
        mine = repeats[repeats["model"] == row.model]["runtime_ms"]
        assert row.runtime_ms == pytest.approx(mine.mean(), rel=1e-5)  # %.6g in the CSV
        assert mine.min() <= row.runtime_ci_low < row.runtime_ms < row.runtime_ci_high <= mine.max()
    assert table.loc[0, "params_m"] > 0  # params and MACs keep their single exact value
    nafnet = table.set_index("model").loc["nafnet"]
    shown = f"{nafnet.runtime_ms:.4g} [{nafnet.runtime_ci_low:.4g}, {nafnet.runtime_ci_high:.4g}]"
    assert shown in md and "runtime_ci_low" not in md


def test_a_constant_timing_has_a_zero_width_interval(tmp_path, monkeypatch):
    monkeypatch.setattr(cost_module, "forward_ms", lambda model, x, timer: 7.5)
    table, repeats, _ = run_script(tmp_path, "--repeats", "4")
    assert (repeats["runtime_ms"] == 7.5).all()
    assert (table[["runtime_ms", "runtime_ci_low", "runtime_ci_high"]] == 7.5).all().all()


def test_paired_repeats_give_a_ratio_interval(tmp_path, monkeypatch):
    """Repeat r of two models is timed in the same round, so a load shared by the round
    cancels in their ratio (the claim "DeMoE k=1 runs as fast as NAFNet")."""
    calls: Counter[str] = Counter()

    def forward(model, x, timer):  # round r's load, shared; DeMoE 1.2× NAFNet
        kind = type(model).__name__
        calls[kind] += 1
        load = 10.0 + 5 * (calls[kind] % 3)
        return load * (1.2 if kind == "DeMoE" else 1.0)

    monkeypatch.setattr(cost_module, "forward_ms", forward)
    _, repeats, _ = run_script(tmp_path, "--repeats", "6")
    script, settings = load_script(), IntervalSettings(resamples=200)
    parts = [
        script.runtime_observations(repeats[repeats["model"] == m]) for m in ("demoe", "nafnet")
    ]
    ratio = estimate(parts, lambda v: v[0] / v[1], settings)
    assert (ratio.value, ratio.low, ratio.high) == pytest.approx((1.2, 1.2, 1.2))
    alone = estimate(parts[:1], settings=settings)
    assert alone.high > alone.low  # each runtime alone varies with the load
