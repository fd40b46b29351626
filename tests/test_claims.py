"""Claims scoreboard: statistics from artifacts made here, verdicts, bad files."""

from __future__ import annotations

import importlib.util
import json
import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import run_snakemake

from demoe import paths
from demoe.analysis.claims import (
    FAILS,
    HOLDS,
    INCONCLUSIVE,
    NOT_MEASURABLE,
    STATISTICS,
    Context,
    claim_inputs,
    load_claims,
    scoreboard,
)
from demoe.analysis.intervals import IntervalSettings
from demoe.errors import ConfigError
from demoe.tasks import AIO_BLUR, DATASETS

REPO = Path(__file__).resolve().parents[1]
CLAIMS = REPO / "config" / "claims.yaml"


def scoreboard_main(argv: list[str]) -> int:
    """``main`` of analysis/claims_scoreboard.py (a script, not a package module)."""
    path = REPO / "analysis" / "claims_scoreboard.py"
    spec = importlib.util.spec_from_file_location("claims_scoreboard", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.main(argv)


IMAGES = 4
PATTERN = np.array([-0.3, 0.1, 0.2, 0.0])  # per-image deviation, the same for every model
PSNR = {
    "demoe": 20.0,
    "baseline_aio": 19.5,
    "baseline_aio_noclass": 19.0,
    "blurry_input": 19.5,
    "ablation_scratch": 18.0,
    "ablation_router_noise": 19.9,
    "ablation_finetune_all": 19.8,
    "ablation_residual": 19.7,
    "ablation_attention": 19.6,
    "ablation_width64": 20.3,
    "table7_plk": 19.0,
}
RUN_SHIFT = {"auto_tlc-all": 0.1, "global_motion": 2.0}
REPLICATES = {"demoe": 2}  # demoe_rep1 scores SEED_SHIFT more than demoe


SEED_SHIFT = 0.2


def eval_frame(experiment: str, dataset: str, run: str) -> pd.DataFrame:
    """Per-image metrics of a fake evaluation: PSNR = the experiment's base + the
    dataset's index + the run's shift + a per-image pattern shared by every model."""
    base_name = experiment.removesuffix("_rep1")
    base = 20.05 if base_name.startswith("demoe_star_") else PSNR.get(base_name, 21.0)
    base += SEED_SHIFT * experiment.endswith("_rep1") + RUN_SHIFT.get(run, 0.0)
    offset = AIO_BLUR.index(dataset) if dataset in AIO_BLUR else 0
    task = DATASETS[dataset].task
    routed = [task] * IMAGES
    if dataset == AIO_BLUR[0]:
        routed[-1] = "low_light"  # 19 of the 20 AIO-Blur images to their own expert
    if dataset == "rsblur":
        routed = ["defocus"] * 3 + ["global_motion"]
    niqe = 5.0 if run == "low_light" else math.nan
    return pd.DataFrame(
        {
            "dataset": dataset,
            "task": task,
            "image": [f"{dataset}/{i}.png" for i in range(IMAGES)][::-1],  # unsorted on disk
            "expert": run,
            "error": "",
            "psnr": (base + offset + PATTERN)[::-1],
            "ssim": 0.5,
            "niqe": niqe,
            "musiq": math.nan,
            "routed": routed,
        }
    )


def layer_rows(kind: str, pair: str, scores: dict[str, float]) -> list[dict]:
    """Three layers per type, scored mean - 0.05, mean, mean + 0.05."""
    return [
        {"kind": kind, "pair": pair, "layer_type": t, "layer": f"{t}/{i}", "measure": "pearson",
         "score": mean + 0.05 * (i - 1)}
        for t, mean in scores.items()
        for i in range(3)
    ]  # fmt: skip


def write_figure(results: Path, name: str, rows: list[dict]) -> None:
    path = results / "figures" / f"{name}.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_csv(path, index=False)


def fake_run(r: Path, ctx: Context) -> None:
    """Every artifact the claims read, with hand-picked values."""
    for path in claim_inputs(load_claims(CLAIMS), ctx):
        parts = Path(path).relative_to(r).parts
        if parts[0] == "eval":
            _, experiment, dataset, name = parts
            (r / "eval" / experiment / dataset).mkdir(parents=True, exist_ok=True)
            eval_frame(experiment, dataset, Path(name).stem).to_csv(path, index=False)
    four = {"3x3 conv": 0.9, "1x1 conv": 0.7, "SCA": 0.8, "LayerNorm": 0.75}
    low = {t: v - 0.4 for t, v in four.items()}
    pairs = [
        *layer_rows("pairs", "DPDD – GoPro", four),
        *layer_rows("pairs", "DPDD – LOLBlur", low),
        *layer_rows("init", "DPDD – its initialisation", {"3x3 conv": 0.95}),
        *layer_rows("seed", "DPDD – DPDD (other seed)", {"3x3 conv": 0.8}),
    ]
    write_figure(r, "fig07_layer_type_correlation", pairs)
    cka = [{**row, "score": row["score"] / 2 + 0.1} for row in pairs]  # linear in Pearson: r = 1
    write_figure(r, "fig09_cka", cka)
    other = {"3x3 conv": 0.2, "1x1 conv": 0.1, "SCA": 0.3, "LayerNorm": 0.6}
    write_figure(r, "fig08_other_task_correlation", layer_rows("other_task", "DPDD – x", other))
    experts = {"3x3 conv": 0.1, "1x1 conv": 0.2, "SCA": 0.1, "LayerNorm": 0.6}
    write_figure(r, "fig11_expert_correlation", layer_rows("experts", "e1 – e2", experts))
    silhouettes = {"class_loss": 0.6, "random_init": 0.1}
    embedding = [
        {"model": m, "dataset": d, "image": f"{d}/{i}.png", "x": 0.0, "y": 0.0, "silhouette": s + 0.1 * (i - 1)}
        for m, s in silhouettes.items()
        for d in AIO_BLUR
        for i in range(3)
    ]  # fmt: skip
    write_figure(r, "fig13_encoder_tsne", embedding)
    clip = [{k: v for k, v in row.items() if k != "model"} for row in embedding[:15]]
    write_figure(r, "fig04_dataset_tsne", clip)
    (r / "tables").mkdir(exist_ok=True)
    pd.DataFrame(
        {
            "model": ["nafnet", "demoe", "demoe5", "demoe_width64"],
            "params_m": [10.0, 20.0, 50.0, 80.0],
            "macs_g": [11.0, 11.05, 11.0, 42.0],
            "runtime_ms": [10.0, 10.5, 10.0, 40.0],
        }
    ).to_csv(r / "tables" / "cost.csv", index=False)
    repeats = [
        {"model": m, "repeat": i, "runtime_ms": t + 0.1 * i}
        for m, t in (("nafnet", 10.0), ("demoe", 10.5), ("demoe5", 10.0), ("demoe_width64", 40.0))
        for i in range(5)
    ]
    pd.DataFrame(repeats).to_csv(paths.cost_repeats(r), index=False)


@pytest.fixture
def ctx(tmp_path: Path) -> Context:
    """A fake run of the synthetic default with two seeds of DeMoE."""
    context = Context(
        results=tmp_path / "results",
        replicates=REPLICATES,
        settings=IntervalSettings(resamples=500),
        synthetic=True,
        reported=REPO / "config" / "reported",
    )
    fake_run(context.results, context)
    return context


def test_claims_by_hand(ctx: Context) -> None:
    board = scoreboard(load_claims(CLAIMS), ctx).set_index("id")
    demoe = PSNR["demoe"] + SEED_SHIFT / 2  # the mean over its two seeds
    expected = {
        # id: (this run's value by hand, verdict)
        "conv3x3_correlate": (0.5, FAILS),  # the LOLBlur pair: 0.9 - 0.4
        "conv3x3_learned": (0.7 - 0.95, FAILS),
        "lolblur_least": (0.4, HOLDS),
        "cka_agrees": (1.0, HOLDS),
        "other_task_uncorrelated": (0.6, HOLDS),  # LayerNorm, the highest type
        "router_accuracy": (0.95, INCONCLUSIVE),
        "demoe_beats_nafnet": (demoe - 19.5, HOLDS),
        "manual_expert_rsblur": (2.0, HOLDS),
        "manual_expert_real_lolblur_niqe": (math.nan, NOT_MEASURABLE),
        "manual_expert_real_lolblur": (math.nan, NOT_MEASURABLE),
        "experts_uncorrelated": (0.2, HOLDS),
        "experts_layernorm_correlate": (0.6, FAILS),
        "class_loss_helps": (0.5, HOLDS),
        "moe_decoder_finetune_best": (demoe - 19.9, HOLDS),
        "tlc_no_gain": (0.1, FAILS),
        "demoe_as_fast_as_nafnet": (10.7 / 10.2, HOLDS),
        "layer_types_correlate_without_lolblur": (0.7, INCONCLUSIVE),  # 1x1: 0.65, 0.7, 0.75
        "conv3x3_correlate_most": (0.1, HOLDS),
        "demoe_macs_as_nafnet": (11.05 / 11.0, HOLDS),
        "demoe_second_cheapest_macs": (2, HOLDS),
        "demoe_fewer_params_than_promptir": (35.59 / 20.0, HOLDS),
        "demoe5_larger": (0.0, HOLDS),
        "eq7_eq8_below_demoe": (demoe - 19.7, HOLDS),
        "width64_slightly_better": (20.3 - demoe, HOLDS),
        "width64_not_worth_its_cost": (42.0 / 11.05, HOLDS),
        "table7_plk_poor": (19.0 - demoe, HOLDS),
        "nafnet_tlc_no_gain": (0.1, FAILS),
        "demoe_above_lednet_lolblur": (math.nan, NOT_MEASURABLE),  # synthetic data
        "clip_features_separate_datasets": (0.6, HOLDS),
        "trained_encoder_clusters_better_than_random": (0.5, HOLDS),
        "demoe_beats_blurry_input": (demoe - 19.5, FAILS),  # the same margin on every set
        "every_model_beats_blurry_input": (18.0 - 19.5, FAILS),  # the scratch run is worst
    }
    for claim_id, (value, expected_verdict) in expected.items():
        row = board.loc[claim_id]
        assert row["verdict"] == expected_verdict, (claim_id, row.to_dict())
        if math.isnan(value):
            assert math.isnan(row["this_run"]) and row["reason"], claim_id
        else:
            assert row["this_run"] == pytest.approx(value), claim_id
    assert "not comparable" in board.loc["demoe_above_lednet_lolblur", "reason"]
    assert "n/a" in board.loc["manual_expert_real_lolblur", "reason"]


def test_every_measurable_value_lies_in_its_interval(ctx: Context) -> None:
    board = scoreboard(load_claims(CLAIMS), ctx)
    measured = board[board["verdict"] != NOT_MEASURABLE]
    assert len(board) >= 28 and len(measured) >= 20
    assert (measured["ci_low"] <= measured["this_run"] + 1e-12).all()
    assert (measured["this_run"] <= measured["ci_high"] + 1e-12).all()
    decided = measured[measured["verdict"].isin([HOLDS, FAILS])]
    thresholds = [c.threshold for c in load_claims(CLAIMS) if c.id in set(decided["id"])]
    inside = (decided["ci_low"].to_numpy() <= thresholds) & (
        thresholds <= decided["ci_high"].to_numpy()
    )
    assert not inside.any()


def test_seed_replicates_widen_the_interval(ctx: Context) -> None:
    """DeMoE has two seeds 0.2 dB apart: its difference with the baseline spans them."""
    board = scoreboard(load_claims(CLAIMS), ctx).set_index("id")
    row = board.loc["demoe_beats_nafnet"]
    assert row["ci_low"] == pytest.approx(0.5) and row["ci_high"] == pytest.approx(0.7)
    single = replace(ctx, replicates={})
    row = scoreboard(load_claims(CLAIMS), single).set_index("id").loc["demoe_beats_nafnet"]
    assert row["ci_low"] == row["ci_high"] == pytest.approx(0.5)  # paired images: exact


def test_missing_artifact_is_not_measurable(ctx: Context) -> None:
    (ctx.results / "tables" / "cost.csv").unlink()
    board = scoreboard(load_claims(CLAIMS), ctx).set_index("id")
    row = board.loc["demoe_as_fast_as_nafnet"]
    assert row["verdict"] == NOT_MEASURABLE and "cost.csv was not made" in row["reason"]


def test_claim_inputs_cover_every_file_read(ctx: Context) -> None:
    inputs = claim_inputs(load_claims(CLAIMS), ctx)
    assert all(Path(p).is_file() for p in inputs)
    star = ctx.results / "eval" / "demoe_star_gopro" / "gopro" / "synth_global_motion.csv"
    assert str(star) in inputs
    assert str(ctx.results / "eval" / "demoe_rep1" / "gopro" / "auto.csv") in inputs


def test_unknown_statistic_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "claims.yaml"
    bad.write_text(
        "claims:\n  - {id: x, claim: c, source: s, statistic: median_psnr, "
        "compare: '>', threshold: 0}\n"
    )
    with pytest.raises(ConfigError, match="claim 'x': unknown statistic 'median_psnr'; known:"):
        load_claims(bad)


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("{id: x, claim: c, source: s, statistic: eval_mean, compare: '=', threshold: 0}", "compare"),
        ("{id: x, claim: c, statistic: eval_mean, compare: '>', threshold: 0}", "lacks"),
        ("{id: x, claim: c, source: s, statistic: eval_mean, compare: '>', threshold: 0, "
         "treshold: 1}", "unknown keys"),
        ("{id: x, claim: c, source: s, statistic: eval_mean, compare: '>', threshold: 0, "
         "args: {experiment: demoe, metrc: psnr}}", "bad args for eval_mean"),
    ],
)  # fmt: skip
def test_bad_claim_entries(tmp_path: Path, entry: str, message: str) -> None:
    bad = tmp_path / "claims.yaml"
    bad.write_text(f"claims:\n  - {entry}\n")
    with pytest.raises(ConfigError, match=message):
        load_claims(bad)


def test_script_writes_csv_and_markdown(ctx: Context, tmp_path: Path) -> None:
    out = tmp_path / "tables" / "claims"
    args = ["--claims", str(CLAIMS), "--results", str(ctx.results), "--out", str(out)]
    args += ["--replicates", json.dumps(REPLICATES), "--intervals", '{"resamples": 500}']
    args += ["--reported", str(ctx.reported), "--synthetic", "yes"]
    assert scoreboard_main(args) == 0
    board = pd.read_csv(out.with_suffix(".csv"))
    assert len(board) == len(load_claims(CLAIMS))
    assert {"ci_low", "ci_high"} <= set(board.columns)
    expected = scoreboard(load_claims(CLAIMS), ctx)
    assert list(board["verdict"]) == list(expected["verdict"])
    markdown = out.with_suffix(".md").read_text()
    counts = expected["verdict"].value_counts()
    assert f"{counts[HOLDS]} holds, {counts[FAILS]} does not hold" in markdown
    assert "500 resamples" in markdown


def test_statistics_registry_is_what_the_claims_file_documents() -> None:
    header = CLAIMS.read_text().split("claims:\n")[0]
    assert all(name in header for name in STATISTICS)


def test_the_scoreboard_rule_waits_for_every_artifact_a_claim_reads(tmp_path: Path) -> None:
    """In the DAG, rule claims_scoreboard has as inputs every file the claims read (the
    cost table, the figure CSVs, the evaluations), so it never scores a stale or missing
    artifact."""
    results = tmp_path / "results"
    target = f"{results}/tables/claims.csv"
    run = run_snakemake("-n", "--forceall", target, configs=["config/config.yaml"], results=results)
    assert run.returncode == 0, run.stderr[-2000:]
    block = run.stdout.split("rule claims_scoreboard:", 1)[1]
    inputs = {p.strip() for p in block.split("input:", 1)[1].split("\n", 1)[0].split(",")}
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    context = Context(results=results, replicates=config["train"].get("replicates") or {})
    needed = set(claim_inputs(load_claims(REPO / "config" / "claims.yaml"), context))
    assert f"{results}/tables/cost.csv" in needed
    assert needed <= inputs, sorted(needed - inputs)
