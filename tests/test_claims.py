"""Claims scoreboard: statistics from artifacts made here, verdicts, bad files."""

from __future__ import annotations

import importlib.util
import json
import math
from pathlib import Path

import pandas as pd
import pytest
from conftest import run_snakemake

from demoe.analysis.claims import (
    FAILS,
    HOLDS,
    NOT_MEASURABLE,
    STATISTICS,
    claim_inputs,
    load_claims,
    scoreboard,
)
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


def write_summary(results: Path, experiment: str, dataset: str, run: str, **means) -> None:
    path = results / "eval" / experiment / dataset / f"{run}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"means": means, "unavailable": {}}))


def write_router(results: Path, dataset: str, routed: list[str]) -> None:
    path = results / "eval" / "demoe" / dataset / "auto.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame({"dataset": dataset, "routed": routed}).to_csv(path, index=False)


def write_figure(results: Path, name: str, rows: list[tuple[str, str, str, float]]) -> None:
    path = results / "figures" / f"{name}.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    frame = pd.DataFrame(rows, columns=["kind", "pair", "layer_type", "score"])
    frame.assign(measure="pearson", n_layers=3).to_csv(path, index=False)


@pytest.fixture
def results(tmp_path: Path) -> Path:
    """A fake run: every artifact config/claims.yaml reads, with hand-picked values."""
    r = tmp_path / "results"
    psnr = {"demoe": 20.0, "baseline_aio": 19.5, "baseline_aio_noclass": 19.0}
    psnr |= {"ablation_scratch": 18.0, "ablation_router_noise": 19.9, "ablation_finetune_all": 19.8}
    others = ["baseline_original_arch", "ablation_residual", "ablation_attention"]
    others += ["ablation_width64", "ablation_middle12", "ablation_moe_blocks"]
    others += [f"table7_{b}" for b in ("darkir", "wavelet", "restormer", "plk")]
    psnr |= dict.fromkeys(others, 21.0)
    for i, d in enumerate(AIO_BLUR):
        for experiment, value in psnr.items():
            write_summary(r, experiment, d, "auto", psnr=value + i)  # + i: averages shift by 2
        write_summary(r, "demoe", d, "auto_tlc-all", psnr=psnr["demoe"] + i + 0.1)
        write_summary(r, "blurry_input", d, "auto", psnr=19.5 + i)
        write_summary(r, f"demoe_star_{d}", d, DATASETS[d].task, psnr=20.05 + i)
        # Router: 19 of 20 AIO-Blur images to their own expert (95 %: not > 95 %).
        write_router(r, d, [DATASETS[d].task] * 19 + ["defocus" if i else "low_light"])
    write_router(r, "rsblur", ["defocus"] * 3 + ["global_motion"])
    write_router(r, "real_lolblur", ["low_light"] * 4)
    write_summary(r, "demoe", "rsblur", "auto", psnr=15.0)
    write_summary(r, "demoe", "rsblur", "global_motion", psnr=17.0)
    write_summary(r, "demoe", "real_lolblur", "auto", niqe=float("nan"))
    write_summary(r, "demoe", "real_lolblur", "low_light", niqe=5.0)
    pairs = [
        ("pairs", "DPDD – GoPro", "3x3 conv", 0.9),
        ("pairs", "DPDD – GoPro", "1x1 conv", 0.7),
        ("pairs", "DPDD – LOLBlur", "3x3 conv", 0.5),
        ("pairs", "DPDD – LOLBlur", "1x1 conv", 0.3),
        ("init", "DPDD – its initialisation", "3x3 conv", 0.95),
        ("seed", "DPDD – DPDD (other seed)", "3x3 conv", 0.8),
    ]
    write_figure(r, "fig07_layer_type_correlation", pairs)
    cka = [(k, p, t, s / 2 + 0.1) for k, p, t, s in pairs]  # linear in Pearson: r = 1
    write_figure(r, "fig09_cka", cka)
    write_figure(r, "fig08_other_task_correlation", [("other_task", "DPDD – x", "3x3 conv", 0.2)])
    experts = [("experts", "e1 – e2", "3x3 conv", 0.1), ("experts", "e1 – e2", "LayerNorm", 0.6)]
    write_figure(r, "fig11_expert_correlation", experts)
    (r / "tables").mkdir()
    pd.DataFrame(
        {"model": ["nafnet", "demoe"], "params_m": [1, 2], "runtime_ms": [10.0, 10.5]}
    ).to_csv(r / "tables" / "cost.csv", index=False)
    return r


def test_every_claim_from_artifacts(results: Path) -> None:
    board = scoreboard(load_claims(CLAIMS), results).set_index("id")
    expected = {
        # id: (this run's value by hand, verdict)
        "conv3x3_correlate": (0.7, FAILS),  # (0.9 + 0.5) / 2 is not > 0.7
        "conv3x3_learned": (0.7 - 0.95, FAILS),
        "lolblur_least": ((0.9 + 0.7) / 2 - (0.5 + 0.3) / 2, HOLDS),
        "cka_agrees": (1.0, HOLDS),
        "other_task_uncorrelated": (0.2, HOLDS),
        "router_accuracy": (0.95, FAILS),
        "demoe_beats_nafnet": (0.5, HOLDS),
        "router_fails_rsblur": (0.25, HOLDS),
        "router_fails_real_lolblur": (1.0, FAILS),
        "manual_expert_rsblur": (2.0, HOLDS),
        "manual_expert_real_lolblur": (math.nan, NOT_MEASURABLE),
        "experts_uncorrelated": (0.1, HOLDS),
        "experts_layernorm_correlate": (0.6, FAILS),
        "class_loss_helps": (0.5, HOLDS),
        "moe_decoder_finetune_best": (0.1, HOLDS),
        "tlc_no_gain": (0.1, FAILS),
        "demoe_close_to_star": (0.05 / 22.05, HOLDS),
        "demoe_as_fast_as_nafnet": (1.05, HOLDS),
        "demoe_beats_blurry_input": (0.5, FAILS),
        "every_model_beats_blurry_input": (18.0 - 19.5, FAILS),  # the scratch run is worst
        "conv3x3_datasets_differ": (0.8 - 0.7, HOLDS),
    }
    assert set(board.index) == set(expected)
    for claim_id, (value, verdict) in expected.items():
        row = board.loc[claim_id]
        assert row["verdict"] == verdict, claim_id
        if math.isnan(value):
            assert math.isnan(row["this_run"]) and "niqe is n/a" in row["reason"]
        else:
            assert row["this_run"] == pytest.approx(value), claim_id


def test_missing_artifact_is_not_measurable(results: Path) -> None:
    (results / "tables" / "cost.csv").unlink()
    board = scoreboard(load_claims(CLAIMS), results).set_index("id")
    row = board.loc["demoe_as_fast_as_nafnet"]
    assert row["verdict"] == NOT_MEASURABLE and "cost.csv was not made" in row["reason"]


def test_claim_inputs_cover_every_file_read(results: Path) -> None:
    inputs = claim_inputs(load_claims(CLAIMS), results)
    assert all(Path(p).is_file() for p in inputs)
    assert str(results / "eval" / "demoe_star_gopro" / "gopro" / "synth_global_motion.json") in (
        inputs
    )


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


def test_script_writes_csv_and_markdown(results: Path, tmp_path: Path) -> None:
    out = tmp_path / "tables" / "claims"
    args = ["--claims", str(CLAIMS), "--results", str(results), "--out", str(out)]
    assert scoreboard_main(args) == 0
    board = pd.read_csv(out.with_suffix(".csv"))
    assert len(board) == len(load_claims(CLAIMS))
    markdown = out.with_suffix(".md").read_text()
    assert "12 holds, 8 does not hold, 1 not measurable here" in markdown


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
    needed = set(claim_inputs(load_claims(REPO / "config" / "claims.yaml"), str(results)))
    assert f"{results}/tables/cost.csv" in needed
    assert needed <= inputs, sorted(needed - inputs)
