"""Intervals of the results tables (demoe/analysis/table_intervals.py, tables.py,
table_render.py): every reproduced cell's 95 % bootstrap interval from the per-image CSVs,
paired differences, the stratified average, seed replicates and their spread."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import long_row

from demoe.analysis.intervals import IntervalSettings
from demoe.analysis.table_intervals import Quantity, load_per_image, per_image_paths
from demoe.analysis.table_render import (
    format_cell,
    intervals_param,
    main,
    parse_intervals,
    replicates_param,
    write_table,
)
from demoe.analysis.tables import (
    AVERAGE,
    COMPARISON,
    COMPARISONS,
    COST,
    DIFFERENCE,
    LONG_COLUMNS,
    REPRODUCED,
    build_table,
    comparison_label,
    paper_file,
    per_image_files,
    shown_rows,
    table_evaluations_shown,
)
from demoe.errors import ConfigError, DataError
from demoe.experiments.paper_tables import table_specs
from demoe.tasks import AIO_BLUR

SPECS = table_specs(compared=())  # the embedded default: no compared method trained
T1 = SPECS["table1_aio_deblurring"]
REPORTED_DIR = Path(__file__).resolve().parents[1] / "config" / "reported"
FAST = IntervalSettings(resamples=400)
TOL = 1e-9


def write_run(root, ev, psnr, ssim=None, images=None):
    """A fake `demoe eval` run of ``ev``: per-image CSV (PSNR, SSIM; LPIPS n/a) and summary.
    SSIM follows PSNR's deviations from its mean unless given."""
    psnr = np.asarray(psnr, dtype=float)
    ssim = 0.8 + (psnr - psnr.mean()) / 100 if ssim is None else np.asarray(ssim, dtype=float)
    images = images or [f"data/{ev.dataset}/{k:03d}.png" for k in range(psnr.size)]
    path = ev.path(root, ".csv")
    path.parent.mkdir(parents=True, exist_ok=True)
    frame = pd.DataFrame({"dataset": ev.dataset, "image": images, "psnr": psnr, "ssim": ssim})
    frame.assign(lpips=math.nan).to_csv(path, index=False)
    means = {"psnr": psnr.mean(), "ssim": ssim.mean(), "lpips": math.nan}
    ev.path(root).write_text(json.dumps({"means": means, "unavailable": {"lpips": "no weights"}}))


def noisy_results(root, spec=T1, seed=0, images=8, shift=None):
    """Random per-image PSNR/SSIM for every evaluation of ``spec`` (``shift(ev)``: dB added)."""
    rng = np.random.default_rng(seed)
    base = {d: rng.normal(25, 3, images) for d in AIO_BLUR + ("realdof", "rsblur")}
    for ev in table_evaluations_shown(spec, SPECS):
        noise = rng.normal(0, 0.5, images)
        offset = shift(ev) if shift else 0.0
        write_run(root, ev, base.get(ev.dataset, base["gopro"]) + noise + offset)
    return root


def cells(long, origin=REPRODUCED):
    return long[(long.origin == origin) & (long.dataset != COST)]


row = long_row


def test_every_reproduced_cell_has_its_interval(tmp_path):
    results = noisy_results(tmp_path / "results")
    long, _ = build_table(T1, results, paper_file(REPORTED_DIR, T1), settings=FAST)
    assert list(long.columns) == LONG_COLUMNS
    ours = cells(long)
    measured = ours[ours.value.notna()]
    assert set(measured.metric) == {"psnr", "ssim"} and AVERAGE in set(measured.dataset)
    assert measured[["ci_low", "ci_high"]].notna().all().all()
    assert (measured.ci_low <= measured.value + TOL).all()
    assert (measured.value <= measured.ci_high + TOL).all()
    assert (measured.ci_low < measured.ci_high).all()  # noisy images: a real width
    assert (measured.seeds == 1).all() and measured.seed_sd.isna().all()  # one seed
    assert ours.loc[ours.value.isna(), ["ci_low", "ci_high"]].isna().all().all()  # LPIPS n/a
    reported = long[long.origin.str.startswith("reported")]
    assert reported[["ci_low", "ci_high", "seeds", "seed_sd"]].isna().all().all()
    # reproduced − reported: our interval shifted by the paper's number
    ours_avg = row(long, "DeMoE k=1", REPRODUCED, AVERAGE)
    diff = row(long, "DeMoE k=1", DIFFERENCE, AVERAGE)
    paper = row(long, "DeMoE k=1", "reported (Table 1)", AVERAGE).value
    assert diff.value == pytest.approx(ours_avg.value - paper)
    assert (diff.ci_low, diff.ci_high) == pytest.approx(
        (ours_avg.ci_low - paper, ours_avg.ci_high - paper)
    )


def test_identical_models_differ_by_an_interval_around_zero(tmp_path):
    """Table 6: DeMoE with TLC and without, made equal image by image."""
    spec = SPECS["table6_tlc"]
    results = tmp_path / "results"
    rng = np.random.default_rng(1)
    values = {d: rng.normal(25, 3, 6) for d in spec.datasets}
    for ev in table_evaluations_shown(spec, SPECS):
        write_run(results, ev, values[ev.dataset])
    long, _ = build_table(spec, results, settings=FAST)
    label = comparison_label("DeMoE k=1 (TLC on all layers)", "DeMoE k=1 (no TLC)")
    for dataset in (*spec.datasets, AVERAGE):
        diff = row(long, label, COMPARISON, dataset)
        assert diff.value == pytest.approx(0.0, abs=TOL)
        assert diff.ci_low <= TOL and diff.ci_high >= -TOL


def test_a_constant_shift_has_a_degenerate_interval(tmp_path):
    """Table 2: the manual expert is our router's model + 1 dB on every image; the paired
    difference is 1 dB in every resample, even with the rows of one CSV shuffled."""
    spec = SPECS["table2_ood"]
    results = tmp_path / "results"
    rng = np.random.default_rng(2)
    base = {d: rng.normal(25, 3, 8) for d in spec.datasets}
    for ev in table_evaluations_shown(spec, SPECS):
        write_run(results, ev, base[ev.dataset] + float(ev.expert != "auto"))
    manual = next(e for e in table_evaluations_shown(spec, SPECS) if e.expert != "auto")
    shuffled = pd.read_csv(manual.path(results, ".csv")).sample(frac=1, random_state=0)
    shuffled.to_csv(manual.path(results, ".csv"), index=False)  # aligned by image id
    long, _ = build_table(spec, results, settings=FAST)
    label = comparison_label("DeMoE k=1†", "DeMoE k=1")
    for dataset in ("realdof", "rsblur"):
        diff = row(long, label, COMPARISON, dataset)
        assert (diff.value, diff.ci_low, diff.ci_high) == pytest.approx((1.0, 1.0, 1.0))
        # unpaired, each model's own interval is much wider than the difference's
        ours = row(long, "DeMoE k=1", REPRODUCED, dataset)
        assert ours.ci_high - ours.ci_low > 0.5


def test_the_average_resamples_each_dataset_within_itself(tmp_path):
    """Datasets of different sizes, constant within each: resampling within each dataset
    keeps every dataset's mean, so the unweighted average is exact; pooled resampling
    would move the datasets' shares (and the average)."""
    results = tmp_path / "results"
    evaluations = table_evaluations_shown(T1, SPECS)
    for ev in evaluations:
        i = AIO_BLUR.index(ev.dataset)
        write_run(results, ev, np.full(2 + 3 * i, 30.0 + i))
    long, _ = build_table(T1, results, settings=FAST)
    average = row(long, "DeMoE k=1", REPRODUCED, AVERAGE)
    assert (average.value, average.ci_low, average.ci_high) == pytest.approx((32.0, 32.0, 32.0))
    # DeMoE's DPDD images vary: the average's interval is that dataset's, weighted 1/5
    noise = np.random.default_rng(4).normal(0, 1, 8)
    for ev in (e for e in evaluations if e.dataset == "dpdd"):
        write_run(results, ev, 32.0 + noise * (ev.experiment == "demoe"))
    settings = IntervalSettings(resamples=4000)
    long, _ = build_table(T1, results, settings=settings)
    cell = row(long, "DeMoE k=1", REPRODUCED, "dpdd")
    average = row(long, "DeMoE k=1", REPRODUCED, AVERAGE)
    width = average.ci_high - average.ci_low
    assert width == pytest.approx((cell.ci_high - cell.ci_low) / 5, rel=0.1)


def seeded_results(root, offsets, replicates):
    """Table 1 with DeMoE trained ``len(offsets)`` times: the same noisy images, each seed
    shifted by its offset (dB)."""
    noisy_results(root)
    rng = np.random.default_rng(3)
    for ev in table_evaluations_shown(T1, SPECS):
        if ev.experiment != "demoe":
            continue
        values = rng.normal(25, 0.2, 8)
        for path, offset in zip(per_image_paths(ev, root, replicates), offsets, strict=True):
            name = path.parents[1].name
            write_run(root, replace(ev, experiment=name), values + offset)
    return root


def test_disagreeing_seeds_widen_the_interval_and_show_their_spread(tmp_path):
    replicates = {"demoe": 3}
    agree = seeded_results(tmp_path / "agree", [0.0, 0.0, 0.0], replicates)
    disagree = seeded_results(tmp_path / "disagree", [-1.0, 0.0, 1.0], replicates)
    widths = {}
    for name, results in (("agree", agree), ("disagree", disagree)):
        long, aligned = build_table(
            T1, results, paper_file(REPORTED_DIR, T1), replicates=replicates, settings=FAST
        )
        cell = row(long, "DeMoE k=1", REPRODUCED, "dpdd")
        assert cell.seeds == 3 and cell.ci_low <= cell.value <= cell.ci_high
        widths[name] = cell.ci_high - cell.ci_low
    assert cell.seed_sd == pytest.approx(1.0)  # SD of the seeds' means: −1, 0, +1 dB
    assert row(long, "DeMoE k=1", REPRODUCED, AVERAGE).seed_sd == pytest.approx(1.0)
    assert widths["disagree"] > 2 * widths["agree"]
    assert row(long, "NAFNet", REPRODUCED, "dpdd").seeds == 1  # not replicated
    md = write_table(tmp_path / "t1", long, T1, aligned, rows=shown_rows(T1, SPECS))[1]
    text = md.read_text()
    demoe = next(line for line in text.splitlines() if line.startswith("| DeMoE k=1 "))
    assert f"{cell.value:.2f} ±1.00 / 0.800 ±0.000 / n/a" in demoe
    assert "± after a reproduced value: SD over 3 seeds" in text
    assert "test images and seeds" in text
    # the rule reads every replicate's per-image CSV
    files = per_image_files(T1, disagree, replicates, SPECS)
    assert str(disagree / "eval" / "demoe_rep2" / "dpdd" / "auto.csv") in files


def test_intervals_are_deterministic(tmp_path):
    results = noisy_results(tmp_path / "results")
    first, _ = build_table(T1, results, settings=FAST)
    again, _ = build_table(T1, results, settings=FAST)
    other, _ = build_table(T1, results, settings=replace(FAST, seed=1))
    columns = ["ci_low", "ci_high"]
    pd.testing.assert_frame_equal(first[columns], again[columns])
    assert not first[columns].fillna(0).equals(other[columns].fillna(0))


def test_evaluations_on_other_images_are_an_error(tmp_path):
    results = noisy_results(tmp_path / "results")
    ev = next(e for e in table_evaluations_shown(T1, SPECS) if e.experiment == "demoe")
    write_run(results, ev, np.full(8, 20.0), images=[f"other/{k}.png" for k in range(8)])
    with pytest.raises(DataError, match=f"cover different images of {ev.dataset}"):
        build_table(T1, results, settings=FAST)
    ev.path(results, ".csv").unlink()
    with pytest.raises(DataError, match="per-image results not found: .*auto.csv"):
        build_table(T1, results, settings=FAST)
    # a seed replicate on other images than the experiment's first seed
    seeded = seeded_results(tmp_path / "seeded", [0.0, 0.0], {"demoe": 2})
    rep = replace(ev, experiment="demoe_rep1")
    write_run(seeded, rep, np.full(8, 20.0), images=[f"other/{k}.png" for k in range(8)])
    with pytest.raises(DataError, match="demoe_rep1.* covers other images"):
        build_table(T1, seeded, replicates={"demoe": 2}, settings=FAST)


def test_runtime_interval_from_the_cost_table(tmp_path):
    results = noisy_results(tmp_path / "results")
    cost = tmp_path / "cost.csv"
    models = ["nafnet_original_arch", "nafnet", "demoe"]
    pd.DataFrame(
        {"model": models, "params_m": [22.07, 10.08, 20.15], "macs_g": 1.0, "runtime_ms": 10.0}
        | {"runtime_ci_low": 9.0, "runtime_ci_high": 11.5}
    ).to_csv(cost, index=False)
    long, aligned = build_table(T1, results, paper_file(REPORTED_DIR, T1), cost, settings=FAST)
    runtime = row(long, "DeMoE k=1", REPRODUCED, COST, "runtime_ms")
    assert (runtime.ci_low, runtime.ci_high) == (9.0, 11.5)
    assert row(long, "DeMoE k=1", REPRODUCED, COST, "params_m")[["ci_low", "ci_high"]].isna().all()
    diff = row(long, "DeMoE k=1", DIFFERENCE, COST, "runtime_ms")  # paper: 13.1 ms
    assert (diff.value, diff.ci_low, diff.ci_high) == pytest.approx((-3.1, -4.1, -1.6))
    md = write_table(tmp_path / "t1", long, T1, aligned, rows=shown_rows(T1, SPECS))[1]
    assert "-3.1 [-4.1, -1.6]" in md.read_text() and "timing repeats" in md.read_text()


def test_comparisons_are_rows_the_tables_show():
    for name, pairs in COMPARISONS.items():
        shown = {r.label for r in shown_rows(SPECS[name], SPECS) if r.paper}
        for a, b in pairs:
            assert {a, b} <= shown, (name, a, b)


def test_comparison_rows_follow_their_row_with_the_interval(tmp_path):
    spec = SPECS["table6_tlc"]
    results = noisy_results(tmp_path / "results", spec, shift=lambda ev: 0.5 * (ev.tlc is not None))
    long, aligned = build_table(spec, results, paper_file(REPORTED_DIR, spec), settings=FAST)
    methods = list(dict.fromkeys(long.method))
    label = comparison_label("DeMoE k=1 (partial TLC)", "DeMoE k=1 (no TLC)")
    assert methods.index(label) == methods.index("DeMoE k=1 (partial TLC)") + 1
    diff = row(long, label, COMPARISON, AVERAGE)
    assert diff.ci_low < diff.value < diff.ci_high and diff.value == pytest.approx(0.5, abs=0.3)
    text = write_table(tmp_path / "t6", long, spec, aligned, rows=shown_rows(spec, SPECS))[1]
    line = next(r for r in text.read_text().splitlines() if r.startswith(f"| {label} "))
    assert f"{diff.value:+.2f} [{diff.ci_low:+.2f}, {diff.ci_high:+.2f}]" in line
    assert f"{COMPARISON}: A − B of two of our rows" in text.read_text()


def test_format_cell():
    assert format_cell(-7.391, "psnr", DIFFERENCE, (-7.8, -7.0)) == "-7.39 [-7.80, -7.00]"
    assert format_cell(16.5, "psnr", REPRODUCED, (16.3, 16.7), 3, 0.08) == "16.50 ±0.08"
    assert format_cell(16.5, "psnr", REPRODUCED, (16.3, 16.7), 1) == "16.50"
    assert format_cell(math.nan, "psnr", DIFFERENCE, (1.0, 2.0)) == "n/a"
    assert format_cell(0.5, "ssim", COMPARISON) == "+0.500"


def test_settings_and_replicates_reach_the_script(tmp_path, capsys):
    defaults = json.loads(intervals_param({}))
    assert defaults == {"confidence": 0.95, "method": "percentile", "resamples": 2000, "seed": 0}
    config = {"analysis": {"intervals": {"resamples": 300, "seed": 4}}}
    assert parse_intervals(intervals_param(config)) == IntervalSettings(resamples=300, seed=4)
    with pytest.raises(ConfigError, match="unknown keys \\['level'\\]"):
        parse_intervals('{"level": 0.9}')
    assert replicates_param({"demoe": 3, "baseline_aio": 2}) == '{"baseline_aio": 2, "demoe": 3}'
    results = seeded_results(tmp_path / "results", [0.0, 0.5], {"demoe": 2})
    out = tmp_path / "tables" / "t1"
    args = ["--results", str(results), "--reported", str(paper_file(REPORTED_DIR, T1))]
    args += ["--out", str(out), "--intervals", intervals_param(config)]
    assert main(T1.name, [*args, "--replicates", replicates_param({"demoe": 2})]) == 0
    long = pd.read_csv(out.with_suffix(".csv"))
    assert row(long, "DeMoE k=1", REPRODUCED, "dpdd").seeds == 2
    assert "300 resamples" in out.with_suffix(".md").read_text()
    capsys.readouterr()
    assert main(T1.name, [*args, "--replicates", '{"demoe": 0}']) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"{T1.name}: error: train.replicates") and len(err.splitlines()) == 1


def test_quantity_pairs_shared_images(tmp_path):
    """Two models on the same images: the difference's interval is narrower than either
    model's (paired), and a quantity minus itself is exactly 0."""
    rng = np.random.default_rng(5)
    base = rng.normal(25, 3, 20)
    paths = []
    for name, values in (("a", base + rng.normal(0, 0.1, 20)), ("b", base)):
        path = tmp_path / f"{name}.csv"
        images = [f"img{k:02d}.png" for k in range(20)]
        pd.DataFrame({"image": images, "psnr": values}).to_csv(path, index=False)
        paths.append(path)
    a, b = (Quantity.cell(load_per_image([p], "gopro"), "psnr") for p in paths)
    own = a.stats(FAST)
    diff = a.minus(b, FAST)
    assert diff.ci_high - diff.ci_low < (own.ci_high - own.ci_low) / 10
    assert a.minus(a, FAST)[:3] == (0.0, 0.0, 0.0)
