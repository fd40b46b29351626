"""Results tables (demoe/analysis/tables.py) from fake eval summaries and reported values."""

from __future__ import annotations

import json
import math

import pandas as pd
import pytest

from demoe.analysis.tables import (
    AVERAGE,
    DIFFERENCE,
    REPRODUCED,
    build_table,
    main,
    read_reported,
    write_table,
)
from demoe.errors import ConfigError, DataError
from demoe.eval.plan import table_evaluations, table_specs
from demoe.tasks import AIO_BLUR

LPIPS_REASON = "LPIPS needs local weights: set DEMOE_LPIPS_WEIGHTS"


@pytest.fixture
def spec():
    return table_specs()["table1_aio_deblurring"]


def fake_results(root, spec, psnr=lambda i: 30.0 + i, aligned=("realblur_j",)):
    """One summary per evaluation; PSNR = 30 + dataset index, LPIPS unavailable."""
    for ev in table_evaluations(spec):
        i = AIO_BLUR.index(ev.dataset) if ev.dataset in AIO_BLUR else 0
        summary = {
            "aligned": ev.dataset in aligned,
            "means": {"psnr": psnr(i), "ssim": 0.9, "lpips": math.nan},
            "unavailable": {"lpips": LPIPS_REASON},
        }
        path = ev.path(root)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(summary))
    return root


def write_cost(path):
    models = ["nafnet_original_arch", "nafnet", "demoe"]
    pd.DataFrame(
        {"method": models, "model": models, "params_m": [22.07, 10.08, 20.15], "macs_g": 1.0}
        | {"runtime_ms": 5.0, "size": 256, "device": "cpu"}
    ).to_csv(path, index=False)
    return path


def write_reported(path, rows):
    pd.DataFrame(rows, columns=["method", "dataset", "metric", "value", "source"]).to_csv(
        path, index=False
    )
    return path


def value(long, method, origin, dataset, metric):
    sel = long[
        (long.method == method)
        & (long.origin == origin)
        & (long.dataset == dataset)
        & (long.metric == metric)
    ]
    assert len(sel) == 1, (method, origin, dataset, metric)
    return sel.value.iloc[0]


def test_reproduced_rows_average_cost_reported_and_difference(tmp_path, spec):
    results = fake_results(tmp_path / "results", spec)
    reported = write_reported(
        tmp_path / "rep.csv",
        [
            ("DeMoE_k1", "dpdd", "psnr", 29.5, "Table 1"),
            ("PromptIR", "gopro", "psnr", 31.0, "Table 1"),
        ],
    )
    long, aligned = build_table(spec, results, reported, write_cost(tmp_path / "cost.csv"))
    demoe = "DeMoE (k=1)"
    assert aligned == {"realblur_j"}
    assert value(long, demoe, REPRODUCED, "dpdd", "psnr") == 30.0
    assert value(long, demoe, REPRODUCED, AVERAGE, "psnr") == pytest.approx(32.0)  # 30..34
    assert value(long, demoe, REPRODUCED, "cost", "params_m") == 20.15
    assert value(long, demoe, "reported (Table 1)", "dpdd", "psnr") == 29.5
    assert value(long, demoe, DIFFERENCE, "dpdd", "psnr") == pytest.approx(0.5)
    assert value(long, "PromptIR", "reported (Table 1)", "gopro", "psnr") == 31.0
    assert (
        not (long.method == "PromptIR").any()
        or not ((long.method == "PromptIR") & (long.origin == REPRODUCED)).any()
    )
    # LPIPS is n/a with its reason, never 0 (and its average too)
    lpips = long[(long.metric == "lpips") & (long.origin == REPRODUCED)]
    assert lpips.value.isna().all() and (lpips.note != "").all()
    # no average of a reported method with only one dataset
    assert not ((long.method == "PromptIR") & (long.dataset == AVERAGE)).any()


def test_average_is_na_when_a_dataset_is_missing(tmp_path, spec):
    results = fake_results(tmp_path, spec, psnr=lambda i: math.nan if i == 2 else 30.0)
    long, _ = build_table(spec, results)
    avg = long[(long.dataset == AVERAGE) & (long.metric == "psnr")]
    assert avg.value.isna().all()
    assert avg.note.str.contains("ReLoBlur").all() and not avg.note.str.contains("DPDD").any()


def test_rendered_tables_look_like_the_paper(tmp_path, spec):
    results = fake_results(tmp_path / "results", spec)
    reported = write_reported(
        tmp_path / "rep.csv", [("DeMoE_k1", "dpdd", "psnr", 29.5, "Table 1 (PDF p. 7)")]
    )
    long, aligned = build_table(spec, results, reported, write_cost(tmp_path / "cost.csv"))
    paths = write_table(tmp_path / "out" / "t1", long, spec, aligned, ["extra note"])
    csv, md, tex = (p.read_text() for p in paths)
    assert pd.read_csv(paths[0]).shape[0] == len(long)
    header = md.splitlines()[2]
    assert "DPDD PSNR↑" in header and "RealBlur-J† SSIM↑" in header and "Average PSNR↑" in header
    assert "Computational cost Params (M)" in header
    demoe_rows = [line for line in md.splitlines() if line.startswith("| DeMoE (k=1)")]
    assert [r.split("|")[2].strip() for r in demoe_rows] == [
        REPRODUCED,
        "reported (Table 1)",
        DIFFERENCE,
    ]
    assert "| 30.00 " in demoe_rows[0] and "| +0.50 " in demoe_rows[2]
    assert "n/a" in demoe_rows[0] and " 0.0000 " not in demoe_rows[0]
    assert f"n/a (LPIPS): {LPIPS_REASON}" in md
    assert "RealBlur protocol" in md and "extra note" in md and "Table 1 (PDF p. 7)" in md
    assert "\\begin{table}" in tex and "\\caption{Table 1:" in tex and "n/a" in tex
    assert "RealBlur protocol" in tex and "RealBlur-J$^\\dagger$" in tex and "↑" not in tex


def test_missing_summary_names_the_file(tmp_path, spec):
    results = fake_results(tmp_path, spec)
    missing = table_evaluations(spec)[3].path(results)
    missing.unlink()
    with pytest.raises(DataError, match=str(missing)):
        build_table(spec, results)


def test_bad_reported_file_is_a_config_error(tmp_path, spec):
    bad = tmp_path / "r.csv"
    bad.write_text("method,dataset,value\nX,dpdd,1\n")
    with pytest.raises(ConfigError, match="missing columns"):
        read_reported(bad, spec)
    write_reported(bad, [("X", "imagenet", "psnr", 1.0, "Table 1")])
    with pytest.raises(ConfigError, match="unknown datasets"):
        read_reported(bad, spec)


def test_reported_table3_values_are_compared(tmp_path):
    spec = table_specs()["table3_task_specific"]
    results = fake_results(tmp_path / "results", spec)
    reported = write_reported(
        tmp_path / "rep.csv",
        [("LBAG", "reloblur", "ssim", 0.9249, "T3"), ("DeMoE_k1", "reloblur", "ssim", 0.925, "T3")],
    )
    long, _ = build_table(spec, results, reported)
    assert value(long, "DeMoE (k=1)", DIFFERENCE, "reloblur", "ssim") == pytest.approx(-0.025)
    assert value(long, "LBAG", "reported (Table 3)", "reloblur", "ssim") == 0.9249
    assert not (long.dataset == AVERAGE).any()  # Table 3 has no average column


def test_main_writes_three_files_or_exits_with_the_reason(tmp_path, spec, capsys):
    results = fake_results(tmp_path / "results", spec)
    out = tmp_path / "tables" / "table1"
    cost = write_cost(tmp_path / "cost.csv")
    main(spec.name, ["--results", str(results), "--cost", str(cost), "--out", str(out)])
    assert all(out.with_suffix(s).is_file() for s in (".csv", ".md", ".tex"))
    table_evaluations(spec)[0].path(results).unlink()
    with pytest.raises(SystemExit, match="evaluation summary not found"):
        main(spec.name, ["--results", str(results), "--out", str(tmp_path / "t2")])
    assert not list(tmp_path.glob("t2.*"))
