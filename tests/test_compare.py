"""``demoe compare``: two tiny results folders, every table and claim side by side."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest

from demoe import paths
from demoe.analysis.claims import SCOREBOARD_COLUMNS
from demoe.analysis.compare import (
    BEYOND,
    CLAIM_COLUMNS,
    NOT_JUDGED,
    ONLY_A,
    ONLY_B,
    SAME,
    TABLE_COLUMNS,
    WITHIN,
    change,
    compare_runs,
)
from demoe.analysis.tables import LONG_COLUMNS
from demoe.cli import main

NAN = math.nan
TABLE = "table1_aio_deblurring"


def long_row(method, origin, dataset, metric, value, ci=(NAN, NAN), note=""):
    return [method, origin, dataset, metric, value, note, *ci, 1 if ci[0] == ci[0] else NAN, NAN]


def claim_row(claim_id, value, ci, verdict):
    row = dict.fromkeys(SCOREBOARD_COLUMNS, "")
    row.update(
        id=claim_id,
        claim=f"claim {claim_id}",
        statistic="mean_difference",
        this_run=value,
        ci_low=ci[0],
        ci_high=ci[1],
        verdict=verdict,
    )
    return row


def write_run(root, psnr, psnr_ci, gopro_ci, runtime, runtime_ci, claims, extra_rows=()):
    """A results folder with one results table, cost.csv, the timing repeats and claims."""
    rows = [
        long_row("DeMoE k=1", "reported", "gopro", "psnr", 32.0),
        long_row("DeMoE k=1", "reproduced", "gopro", "psnr", psnr, gopro_ci),
        long_row("DeMoE k=1", "reproduced", "average", "psnr", psnr - 1, psnr_ci),
        long_row("DeMoE k=1", "reproduced", "", "params_m", 20.15),
        *extra_rows,
    ]
    table = pd.DataFrame(rows, columns=LONG_COLUMNS)
    csv = Path(paths.table(root, TABLE))
    csv.parent.mkdir(parents=True)
    table.to_csv(csv, index=False)
    cost = pd.DataFrame(
        {
            "model": ["demoe_small"],
            "method": ["DeMoE"],
            "params_m": [0.5],
            "runtime_ms": [runtime],
            "device": ["cpu"],
            "runtime_ci_low": [runtime_ci[0]],
            "runtime_ci_high": [runtime_ci[1]],
        }
    )
    cost.to_csv(paths.table(root, "cost"), index=False)
    repeats = pd.DataFrame({"model": ["demoe_small"] * 2, "repeat": [0, 1], "runtime_ms": [1, 2]})
    repeats.to_csv(paths.table(root, "cost_runtime_repeats"), index=False)
    pd.DataFrame(claims, columns=SCOREBOARD_COLUMNS).to_csv(
        paths.table(root, "claims"), index=False
    )
    return root


@pytest.fixture
def runs(tmp_path):
    a = write_run(
        tmp_path / "a",
        psnr=30.0,
        psnr_ci=(28.9, 29.1),
        gopro_ci=(29.0, 31.0),
        runtime=10.0,
        runtime_ci=(9.5, 10.5),
        claims=[claim_row("c1", 0.5, (0.1, 0.9), "holds"), claim_row("c2", 1.0, (NAN, NAN), "")],
    )
    b = write_run(
        tmp_path / "b",
        psnr=30.5,
        psnr_ci=(29.3, 29.7),
        gopro_ci=(29.6, 31.4),
        runtime=12.0,
        runtime_ci=(11.0, 13.0),
        claims=[claim_row("c1", -0.2, (-0.6, 0.2), "inconclusive"), claim_row("c3", 2, (1, 3), "")],
        extra_rows=[long_row("NAFNet", "reproduced", "gopro", "psnr", 29.0)],
    )
    return a, b


def cell(cells, row, metric, table=TABLE):
    hit = cells[(cells["table"] == table) & (cells["row"] == row) & (cells["metric"] == metric)]
    assert len(hit) == 1, (row, metric)
    return hit.iloc[0]


@pytest.mark.parametrize(
    ("a", "b", "a_ci", "b_ci", "expected"),
    [
        (1.0, 1.0, (0.0, 2.0), (NAN, NAN), SAME),
        (NAN, NAN, (NAN, NAN), (NAN, NAN), SAME),
        (1.0, 3.0, (0.5, 1.5), (2.5, 3.5), BEYOND),
        (3.0, 1.0, (2.5, 3.5), (0.5, 1.5), BEYOND),
        (1.0, 2.0, (0.5, 1.6), (1.5, 2.5), WITHIN),
        (1.0, 2.0, (0.5, 1.5), (NAN, NAN), NOT_JUDGED),
        (1.0, NAN, (0.5, 1.5), (0.5, 1.5), NOT_JUDGED),
    ],
)
def test_a_difference_exceeds_its_noise_only_when_the_intervals_are_disjoint(
    a, b, a_ci, b_ci, expected
):
    assert change(a, b, a_ci, b_ci) == expected


def test_every_cell_of_every_table_is_side_by_side(runs):
    comparison = compare_runs(*runs)
    cells = comparison.cells
    assert list(cells.columns) == TABLE_COLUMNS
    gopro = cell(cells, "DeMoE k=1 · reproduced · gopro", "psnr")
    assert (gopro["a"], gopro["b"], gopro["difference"]) == (30.0, 30.5, 0.5)
    assert (gopro["b_ci_low"], gopro["b_ci_high"]) == (29.6, 31.4)
    assert gopro["change"] == WITHIN
    assert cell(cells, "DeMoE k=1 · reproduced · average", "psnr")["change"] == BEYOND
    assert cell(cells, "DeMoE k=1 · reported · gopro", "psnr")["change"] == SAME
    assert cell(cells, "DeMoE k=1 · reproduced", "params_m")["change"] == SAME
    nafnet = cell(cells, "NAFNet · reproduced · gopro", "psnr")
    assert nafnet["change"] == ONLY_B and math.isnan(nafnet["a"])
    # cost.csv: text columns name the row, runtime_ci_* are runtime_ms's interval.
    runtime = cell(cells, "demoe_small · DeMoE · cpu", "runtime_ms", table="cost")
    assert (runtime["difference"], runtime["change"]) == (2.0, BEYOND)
    assert set(cells.loc[cells["table"] == "cost", "metric"]) == {"params_m", "runtime_ms"}
    # Raw timing repeats have no row key: named as not compared, with the reason.
    assert "not unique" in comparison.skipped["cost_runtime_repeats.csv"]


def test_claims_with_values_intervals_and_verdicts(runs):
    claims = compare_runs(*runs).claims.set_index("id")
    assert list(claims.reset_index().columns) == CLAIM_COLUMNS
    c1 = claims.loc["c1"]
    assert c1["difference"] == pytest.approx(-0.7) and c1["change"] == WITHIN
    assert (c1["a_verdict"], c1["b_verdict"], c1["verdict_changed"]) == (
        "holds",
        "inconclusive",
        True,
    )
    assert claims.loc["c2", "change"] == ONLY_A and not claims.loc["c2", "verdict_changed"]
    assert claims.loc["c3", "change"] == ONLY_B


def test_cli_writes_csv_and_markdown(runs, tmp_path, capsys):
    out = tmp_path / "cmp"
    assert main(["compare", str(runs[0]), str(runs[1]), "--out", str(out)]) == 0
    cells = pd.read_csv(out / "tables.csv")
    assert list(cells.columns) == TABLE_COLUMNS and len(cells) == 7
    assert list(pd.read_csv(out / "claims.csv").columns) == CLAIM_COLUMNS
    md = (out / "compare.md").read_text()
    assert "| DeMoE k=1 · reproduced · average | psnr | 29 | 29.5 | +0.5 | beyond noise |" in md
    assert "2 of 5 cells identical." in md
    assert "| c1 | 0.5 | -0.2 | -0.7 | within noise | holds | **inconclusive** |" in md
    assert "cost_runtime_repeats" in md and "1 verdict(s) changed" in md
    capsys.readouterr()
    assert main(["compare", str(runs[0]), str(runs[1])]) == 0
    assert capsys.readouterr().out == md


def test_a_folder_without_tables_is_a_one_line_error(runs, tmp_path, capsys):
    assert main(["compare", str(runs[0]), str(tmp_path / "nowhere")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("demoe compare: error: ") and "no tables/ folder" in err
    assert "\n" not in err
