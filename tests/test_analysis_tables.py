"""Results tables (demoe/analysis/tables.py, table_render.py) from fake evaluations
(summaries and per-image CSVs) and reported values; the paper rows our models reproduce
(demoe/experiments/paper_rows.py)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import long_row

from demoe.analysis.table_render import format_value, main, write_table
from demoe.analysis.tables import (
    AVERAGE,
    COST,
    DIFFERENCE,
    REPRODUCED,
    build_table,
    paper_file,
    read_reported,
    reported_origin,
    shown_rows,
    table_evaluations_shown,
)
from demoe.errors import ConfigError, DataError
from demoe.experiments.catalogue import EXPERIMENTS
from demoe.experiments.paper_rows import REPRODUCES
from demoe.experiments.paper_tables import (
    BLURRY_INPUT,
    BLURRY_INPUT_ROW,
    needed_evaluations,
    source_evaluations,
    table_specs,
)
from demoe.tasks import AIO_BLUR

LPIPS_REASON = "LPIPS needs local weights: set eval.lpips_weights"
REPORTED_DIR = Path(__file__).resolve().parents[1] / "config" / "reported"
SPECS = table_specs(compared=())  # the embedded default: no compared method trained


@pytest.fixture
def spec():
    return SPECS["table1_aio_deblurring"]


#: Per-image deviations from the mean of the first metric (exact in binary: the means stay exact).
OFFSETS = np.array([-0.5, -0.25, 0.25, 0.5])


def write_eval(root, ev, means, reasons=None, aligned=False, per_image=None):
    """A fake `demoe eval` run: its summary and its per-image CSV (four images). The first
    metric of ``means`` varies by :data:`OFFSETS` around its mean, the others are constant;
    ``per_image`` (metric → values) overrides."""
    summary = {"aligned": aligned, "means": means, "unavailable": reasons or {}}
    path = ev.path(root)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(summary))
    first = next(iter(means))
    columns = {m: v + (OFFSETS if m == first else 0 * OFFSETS) for m, v in means.items()}
    columns |= per_image or {}
    images = [f"data/{ev.dataset}/{k:03d}.png" for k in range(len(OFFSETS))]
    frame = pd.DataFrame({"dataset": ev.dataset, "image": images, "error": ""} | columns)
    frame.to_csv(ev.path(root, ".csv"), index=False)


def fake_results(root, spec, psnr=lambda i: 30.0 + i, aligned=("realblur_j",)):
    """One evaluation per table row and dataset; PSNR = 30 + dataset index, LPIPS unavailable."""
    for ev in table_evaluations_shown(spec, SPECS):
        i = AIO_BLUR.index(ev.dataset) if ev.dataset in AIO_BLUR else 0
        means = {"psnr": psnr(i), "ssim": 0.9, "lpips": math.nan}
        write_eval(root, ev, means, {"lpips": LPIPS_REASON}, ev.dataset in aligned)
    return root


def write_cost(path):
    models = ["nafnet_original_arch", "nafnet", "demoe"]
    pd.DataFrame(
        {"method": models, "model": models, "params_m": [22.07, 10.08, 20.15], "macs_g": 1.0}
        | {"runtime_ms": 5.0, "size": 256, "device": "cpu"}
    ).to_csv(path, index=False)
    return path


def write_reported(path, rows):
    columns = ["method", "dataset", "metric", "value", "source"]
    pd.DataFrame(rows, columns=columns).astype(object).fillna("").to_csv(path, index=False)
    return path


def value(long, method, origin, dataset, metric):
    return long_row(long, method, origin, dataset, metric).value


def test_reproduced_rows_average_cost_reported_and_difference(tmp_path, spec):
    results = fake_results(tmp_path / "results", spec)
    reported = write_reported(
        tmp_path / "rep.csv",
        [
            ("PromptIR", "gopro", "psnr", 31.0, "Table 1"),
            ("DeMoE k=1", "dpdd", "psnr", 29.5, "Table 1"),
            ("DeMoE k=1", "", "params_m", 20.15, "Table 1"),
        ],
    )
    long, aligned = build_table(
        spec, results, reported, write_cost(tmp_path / "cost.csv"), specs=SPECS
    )
    demoe = "DeMoE k=1"
    assert aligned == {"realblur_j"}
    assert value(long, demoe, REPRODUCED, "dpdd", "psnr") == 30.0
    assert value(long, demoe, REPRODUCED, AVERAGE, "psnr") == pytest.approx(32.0)  # 30..34
    assert value(long, demoe, REPRODUCED, COST, "params_m") == 20.15
    assert value(long, "NAFNet", REPRODUCED, COST, "params_m") == 10.08  # nafnet
    assert value(long, demoe, "reported (Table 1)", "dpdd", "psnr") == 29.5
    assert value(long, demoe, DIFFERENCE, "dpdd", "psnr") == pytest.approx(0.5)
    assert value(long, demoe, DIFFERENCE, COST, "params_m") == pytest.approx(0.0)
    assert value(long, "PromptIR", "reported (Table 1)", "gopro", "psnr") == 31.0
    assert not ((long.method == "PromptIR") & (long.origin == REPRODUCED)).any()
    # The paper's rows first, in the file's order; NAFNet (Table 1) is the stage-1 baseline.
    assert list(dict.fromkeys(long.method))[:3] == ["PromptIR", demoe, "NAFNet"]
    # LPIPS is n/a with its reason, never 0 (and its average too)
    lpips = long[(long.metric == "lpips") & (long.origin == REPRODUCED)]
    assert lpips.value.isna().all() and (lpips.note != "").all()
    # no average of a reported method with only one dataset
    assert not ((long.method == "PromptIR") & (long.dataset == AVERAGE)).any()


def test_rows_of_another_table_are_left_to_it(spec):
    """Table 1 shows the paper's NAFNet and DeMoE; the Table 5 baselines go to Table 5."""
    labels = [r.label for r in shown_rows(spec, SPECS)]
    assert labels == ["NAFNet", "DeMoE k=1", BLURRY_INPUT_ROW]
    table5 = {r.label: r for r in shown_rows(SPECS["table5_ablations"], SPECS)}
    assert table5["Baseline w/ original architecture"].evaluations[0].experiment == (
        "baseline_original_arch"
    )
    assert all(r.paper for r in table5.values())


def test_extra_plan_rows_follow_the_paper_rows():
    spec = SPECS["table2_ood"]
    rows = shown_rows(spec, SPECS)
    assert [r.label for r in rows if r.paper] == ["NAFNet", "DeMoE k=1", "DeMoE k=1†"]
    assert [r.label for r in rows if not r.paper] == [
        r.label for r in spec.rows if r.expert != "auto" or r.experiment == BLURRY_INPUT
    ]
    # DeMoE† (Sec. 4.2): the DPDD, RealBlur and LOLBlur experts on RealDOF, RSBlur, Real-LOLBlur
    manual = next(r for r in rows if r.label == "DeMoE k=1†")
    assert {(e.dataset, e.expert) for e in manual.evaluations} == {
        ("realdof", "defocus"),
        ("rsblur", "global_motion"),
        ("real_lolblur", "low_light"),
    }


def test_tables_read_only_evaluations_the_plan_runs():
    needed = set(needed_evaluations(SPECS.values()))
    for spec in SPECS.values():
        assert set(table_evaluations_shown(spec, SPECS)) <= needed, spec.name


def test_every_mapped_paper_row_and_experiment_exists():
    """REPRODUCES names rows of config/reported and experiments of the plan (no drift)."""
    assert set(REPRODUCES) <= set(SPECS)
    for name, mapping in REPRODUCES.items():
        spec = SPECS[name]
        paper = set(read_reported(paper_file(REPORTED_DIR, spec), spec)["method"])
        assert set(mapping) <= paper, (name, set(mapping) - paper)
        for source in mapping.values():
            for ev in source_evaluations(source, spec):
                assert ev.experiment in EXPERIMENTS, (name, ev.experiment)


def test_plan_rows_carry_the_paper_row_they_reproduce():
    """Row.reported_as derives from REPRODUCES (one mapping), and such a row is shown there."""
    t1 = {r.experiment: r.reported_as for r in SPECS["table1_aio_deblurring"].rows}
    assert t1["baseline_aio"] == "NAFNet" and t1["demoe"] == "DeMoE k=1"
    assert t1["baseline_original_arch"] is None and t1[BLURRY_INPUT] is None
    t6 = [r.reported_as for r in SPECS["table6_tlc"].rows]
    assert t6 == [
        "NAFNet (TLC on all layers)",
        "DeMoE k=1 (no TLC)",
        "DeMoE k=1 (TLC on all layers)",
        "DeMoE k=1 (partial TLC)",
    ]
    t7 = [r.reported_as for r in SPECS["table7_expert_blocks"].rows]
    assert t7 == ["DarkIR", "Wavelet Expert", "Restormer", "PLK Expert", "DeMoE"]
    for spec in SPECS.values():
        shown = {r.label for r in shown_rows(spec, SPECS) if r.paper}
        assert {r.reported_as for r in spec.rows if r.reported_as} <= shown, spec.name


@pytest.mark.parametrize("name", sorted(SPECS))
def test_every_table_reads_its_paper_file(name):
    spec = SPECS[name]
    path = paper_file(REPORTED_DIR, spec)
    assert path.is_file(), path
    reported = read_reported(path, spec)
    assert reported["value"].notna().sum() >= 9
    assert (reported["origin"] == reported_origin(spec)).all()


def test_rendered_tables_look_like_the_paper(tmp_path, spec):
    results = fake_results(tmp_path / "results", spec)
    reported = write_reported(
        tmp_path / "rep.csv",
        [
            ("DeMoE k=1", "dpdd", "psnr", 29.5, "Table 1 (PDF p. 7)"),
            ("DeMoE k=1", "dpdd", "ssim", None, "Table 1: illegible"),
        ],
    )
    long, aligned = build_table(
        spec, results, reported, write_cost(tmp_path / "cost.csv"), specs=SPECS
    )
    rows = shown_rows(spec, SPECS)
    paths = write_table(tmp_path / "out" / "t1", long, spec, aligned, ["extra note"], rows)
    csv, md, tex = (p.read_text() for p in paths)
    assert pd.read_csv(paths[0]).shape[0] == len(long)
    header = md.splitlines()[2]
    assert "DPDD PSNR↑ (dB) / SSIM↑ / LPIPS↓" in header and "RealBlur-J†" in header
    assert "Computational cost Params (M) / MACs (G) / Runtime (ms)" in header
    assert header.index("Computational cost") < header.index("DPDD") < header.index("Average")
    demoe_rows = [line for line in md.splitlines() if line.startswith("| DeMoE k=1 ")]
    assert [r.split("|")[2].strip() for r in demoe_rows] == [
        REPRODUCED,
        "reported (Table 1)",
        DIFFERENCE,
    ]
    assert "| 30.00 / 0.900 / n/a " in demoe_rows[0]  # one seed: the value alone
    ci = long[(long.method == "DeMoE k=1") & (long.origin == DIFFERENCE) & (long.dataset == "dpdd")]
    low, high = ci.ci_low.iloc[0], ci.ci_high.iloc[0]
    assert 0 < low < 0.5 < high  # the interval of the images' mean, shifted by the paper's
    assert f"| +0.50 [{low:+.2f}, {high:+.2f}] / – / – " in demoe_rows[2]
    assert "| 29.50 / ? / – " in demoe_rows[1]
    assert f"n/a (LPIPS): {LPIPS_REASON}" in md and "?: the paper's cell is illegible" in md
    assert "RealBlur protocol" in md and "extra note" in md and "Table 1 (PDF p. 7)" in md
    assert "DeMoE k=1: `demoe`" in md
    assert "\\begin{table}" in tex and "\\caption{Table 1:" in tex and "n/a" in tex
    assert "RealBlur protocol" in tex and "RealBlur-J$^\\dagger$" in tex and "↑" not in tex


def test_split_and_average_only_tables(tmp_path):
    """Table 3 prints one block per dataset; Table 5 only the paper's columns (average, cost)."""
    t3 = SPECS["table3_task_specific"]
    results = fake_results(tmp_path / "results", t3)
    long, aligned = build_table(t3, results, paper_file(REPORTED_DIR, t3), specs=SPECS)
    md = write_table(tmp_path / "t3", long, t3, aligned, (), shown_rows(t3, SPECS))[1].read_text()
    assert md.count("*LOLBlur*") == 1 and md.count("*GoPro*") == 1
    assert "| LBAG " in md and "0.9249" in md  # four decimals as printed
    assert "| DeMoE k=1*" in md and "| NAFNet (DPDD only) " in md
    t5 = SPECS["table5_ablations"]
    results = fake_results(tmp_path / "results5", t5)
    long, aligned = build_table(t5, results, paper_file(REPORTED_DIR, t5), specs=SPECS)
    md = write_table(tmp_path / "t5", long, t5, aligned, (), shown_rows(t5, SPECS))[1].read_text()
    header = md.splitlines()[2]
    assert "Average PSNR↑ (dB) / SSIM↑ / LPIPS↓" in header and "DPDD" not in header
    assert "averages only" in md
    assert (long.loc[long.origin == REPRODUCED, "dataset"] == "dpdd").any()  # kept in the CSV


def test_format_keeps_printed_decimals():
    assert format_value(0.9249, "ssim", "reported (Table 3)") == "0.9249"
    assert format_value(0.925, "ssim", "reported (Table 3)") == "0.925"
    assert format_value(8.0, "runtime_ms", "reported (Table 1)") == "8.0"
    assert format_value(0.92491, "ssim", REPRODUCED) == "0.925"
    assert format_value(-0.5, "psnr", DIFFERENCE) == "-0.50"
    assert format_value(math.nan, "psnr", REPRODUCED) == "n/a"
    assert format_value(math.nan, "psnr", "reported (Table 6)") == "?"


def test_missing_summary_names_the_file(tmp_path, spec):
    results = fake_results(tmp_path, spec)
    missing = table_evaluations_shown(spec, SPECS)[3].path(results)
    missing.unlink()
    with pytest.raises(DataError, match=str(missing)):
        build_table(spec, results, specs=SPECS)


def test_bad_reported_file_is_a_config_error(tmp_path, spec):
    bad = tmp_path / "r.csv"
    bad.write_text("method,dataset,value\nX,dpdd,1\n")
    with pytest.raises(ConfigError, match="missing columns"):
        read_reported(bad, spec)
    write_reported(bad, [("X", "imagenet", "psnr", 1.0, "Table 1")])
    with pytest.raises(ConfigError, match="unknown datasets"):
        read_reported(bad, spec)


def test_reported_table3_values_are_compared(tmp_path):
    spec = SPECS["table3_task_specific"]
    results = fake_results(tmp_path / "results", spec)
    long, _ = build_table(spec, results, paper_file(REPORTED_DIR, spec), specs=SPECS)
    assert value(long, "DeMoE k=1", DIFFERENCE, "reloblur", "ssim") == pytest.approx(-0.025)
    assert value(long, "DeMoE k=1*", DIFFERENCE, "lolblur", "psnr") == pytest.approx(34 - 26.94)
    assert value(long, "LBAG", "reported (Table 3)", "reloblur", "ssim") == 0.9249
    assert not (long.dataset == AVERAGE).any()  # Table 3 has no average column


def test_main_writes_three_files_or_exits_with_the_reason(tmp_path, spec, capsys):
    results = fake_results(tmp_path / "results", spec)
    out = tmp_path / "tables" / "table1"
    cost = write_cost(tmp_path / "cost.csv")
    assert (
        main(
            spec.name,
            ["--results", str(results), "--cost", str(cost), "--compared", "[]", "--out", str(out)],
        )
        == 0
    )
    assert all(out.with_suffix(s).is_file() for s in (".csv", ".md", ".tex"))
    table_evaluations_shown(spec, SPECS)[0].path(results).unlink()
    capsys.readouterr()
    assert (
        main(
            spec.name,
            ["--results", str(results), "--compared", "[]", "--out", str(tmp_path / "t2")],
        )
        == 2
    )
    err = capsys.readouterr().err
    assert err.startswith(f"{spec.name}: error: evaluation summary not found")
    assert len(err.splitlines()) == 1
    assert not list(tmp_path.glob("t2.*"))


def test_no_reference_metrics_missing_from_a_summary_are_na(tmp_path):
    """Table 9: MUSIQ / NRQM columns are shown; "n/a" with the reason when not computed."""
    spec = SPECS["table9_real_lolblur"]
    for ev in table_evaluations_shown(spec, SPECS):
        write_eval(tmp_path, ev, {"niqe": 5.5})
    long, aligned = build_table(spec, tmp_path, paper_file(REPORTED_DIR, spec), specs=SPECS)
    assert value(long, "DeMoE k=1", REPRODUCED, "real_lolblur", "niqe") == 5.5
    musiq = long[(long.metric == "musiq") & (long.origin == REPRODUCED)]
    assert musiq.value.isna().all() and musiq.note.str.contains("not computed").all()
    assert value(long, "DeMoE k=1", DIFFERENCE, "real_lolblur", "niqe") == pytest.approx(-2.06)
    md = write_table(tmp_path / "t9", long, spec, aligned, (), shown_rows(spec, SPECS))[1]
    row = next(r for r in md.read_text().splitlines() if r.startswith("| DeMoE k=1 "))
    assert "| n/a / n/a / 5.500 " in row
    assert "| Real-LOLBlur MUSIQ↑ / NRQM↑ / NIQE↓ " in md.read_text()


@pytest.mark.parametrize(
    "name",
    [
        "table1_aio_deblurring",
        "table2_ood",
        "table3_task_specific",
        "table8_ood_extended",
        "table9_real_lolblur",
    ],
)
def test_blurry_input_reference_row_is_ours_with_a_note(tmp_path, name):
    """The blurry-input reference row: the degraded input's scores, labelled as ours,
    beside the paper's rows."""
    spec = SPECS[name]
    results = fake_results(tmp_path / "results", spec, psnr=lambda i: 20.0 + i)
    long, aligned = build_table(spec, results, paper_file(REPORTED_DIR, spec), specs=SPECS)
    rows = {r.label: r for r in shown_rows(spec, SPECS)}
    assert not rows[BLURRY_INPUT_ROW].paper
    assert {e.experiment for e in rows[BLURRY_INPUT_ROW].evaluations} == {BLURRY_INPUT}
    assert {e.dataset for e in rows[BLURRY_INPUT_ROW].evaluations} == set(spec.datasets)
    ours = long[(long.method == BLURRY_INPUT_ROW)]
    assert set(ours.origin) == {REPRODUCED}  # never a "reported" or difference row
    if spec.average:
        assert value(long, BLURRY_INPUT_ROW, REPRODUCED, AVERAGE, "psnr") == pytest.approx(22.0)
    paths = write_table(tmp_path / name, long, spec, aligned, rows=list(rows.values()))
    assert "a reference of ours, not a row of the paper" in paths[1].read_text()
