"""The cost table (results/tables/cost.csv) and the MAC counting conventions behind it."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest
import torch

from demoe.analysis.plots.cost import cost_figure, read_cost
from demoe.errors import DataError
from demoe.eval.cost import cost_table, count_macs, mean_runtime_ms, reported_cost
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
    table = cost_table(["nafnet", "demoe5"], reported, COST_ROWS, size=32, repeats=1, warmup=0)
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
