"""The metric registry (demoe/eval/registry.py): one record makes a metric computable, a
`demoe eval` option and a table column; unknown names fail; the config schema agrees."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import yaml
from scipy import ndimage

from demoe.analysis.table_render import format_value, write_table
from demoe.analysis.tables import REPRODUCED, build_table, shown_rows, table_evaluations_shown
from demoe.cli import build_parser, main
from demoe.data.images import read_hwc, write_image
from demoe.data.manifest import Record, write_manifest
from demoe.errors import ConfigError
from demoe.eval.common import Image, MetricUnavailable, to_hwc
from demoe.eval.ecc import realblur_align
from demoe.eval.metrics import psnr
from demoe.eval.registry import (
    FULL_REFERENCE,
    NO_REFERENCE,
    Metric,
    check_required_files,
    compute_metrics,
    create_metric,
    get_metric,
    metric_names,
    register_metric,
    registered_metric,
    weight_keys,
)
from demoe.experiments.catalogue import manifests
from demoe.experiments.eval_jobs import eval_arguments
from demoe.experiments.paper_tables import Evaluation, table_specs

REPO = Path(__file__).resolve().parents[1]
BUILT_IN = ("psnr", "ssim", "lpips", "musiq", "nrqm", "niqe")


def _load_mae(mae_scale: str | None = None):
    """A dummy metric: the mean absolute error times the number in the file ``mae_scale``."""
    if mae_scale is None:
        raise MetricUnavailable("MAE needs a local file: set eval.mae_scale")
    scale = float(Path(mae_scale).read_text())

    def score(pred: Image, target: Image) -> float:
        return scale * float(np.abs(to_hwc(pred) - to_hwc(target)).mean())

    return score


MAE = Metric(
    "mean_abs_error",
    FULL_REFERENCE,
    load=_load_mae,
    display="ΔMAE",
    higher_is_better=False,
    decimals=4,
    weights={"mae_scale": "a text file holding the scale"},
    latex={"Δ": r"$\Delta$"},
)


def pair(seed: int = 0, shape=(40, 48, 3)) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    target = ndimage.gaussian_filter(rng.random(shape), (1.5, 1.5, 0))
    return np.clip(target + 0.1 * rng.standard_normal(shape), 0, 1), target


@pytest.fixture
def scale_file(tmp_path) -> Path:
    path = tmp_path / "scale.txt"
    path.write_text("2.0")
    return path


def test_a_registered_metric_is_computed_with_its_weights(scale_file) -> None:
    pred, target = pair()
    expected = 2.0 * float(np.abs(pred - target).mean())
    with registered_metric(MAE):
        assert metric_names()[-1] == "mean_abs_error" and weight_keys()["mae_scale"] is MAE
        values, reasons = compute_metrics(
            pred, target, ("psnr", "mean_abs_error"), weights={"mae_scale": scale_file}
        )
        assert values["mean_abs_error"] == pytest.approx(expected) and not reasons
        assert values["psnr"] == pytest.approx(psnr(pred, target))
        assert create_metric("mean_abs_error", mae_scale=scale_file)(pred, target) == (
            pytest.approx(expected)
        )
        values, reasons = compute_metrics(pred, target, ("mean_abs_error",))
        assert (
            math.isnan(values["mean_abs_error"]) and "eval.mae_scale" in reasons["mean_abs_error"]
        )
        values, reasons = compute_metrics(pred, None, ("mean_abs_error",))
        assert "ground-truth" in reasons["mean_abs_error"]
    assert "mean_abs_error" not in metric_names() and "mae_scale" not in weight_keys()
    with pytest.raises(ConfigError, match="unknown metrics"):
        compute_metrics(pred, target, ("mean_abs_error",))


def test_without_its_own_aligned_form_a_metric_scores_the_masked_pair(scale_file) -> None:
    """RealBlur protocol: a full-reference metric without a variant sees the masked images."""
    y, x = np.mgrid[0:80, 0:90].astype(float)
    scene = 0.5 + 0.4 * (np.sin(x / 4.0) * np.cos(y / 5.0))[..., None] * np.array([1, 0.8, 0.6])
    pred = np.roll(scene, 1, axis=1)
    result = realblur_align(pred, scene)
    masked = 2.0 * float(np.abs(result.aligned - result.target).mean())
    with registered_metric(MAE):
        values, _ = compute_metrics(
            pred, scene, ("mean_abs_error",), align=True, weights={"mae_scale": scale_file}
        )
    assert values["mean_abs_error"] == pytest.approx(masked, rel=1e-6)


def test_a_registered_weight_key_is_a_demoe_eval_option_and_a_job_argument(
    tmp_path, scale_file
) -> None:
    base = ["eval", "--blurry-input", "--manifest", "m.jsonl", "--out", "o.csv"]
    with pytest.raises(SystemExit):
        build_parser().parse_args([*base, "--mae-scale", "s.txt"])
    records = []
    for i in range(2):
        pred, target = pair(i, (20, 24, 3))
        write_image(tmp_path / f"b{i}.png", pred)
        write_image(tmp_path / f"s{i}.png", target)
        records.append(
            Record(
                str(tmp_path / f"b{i}.png"), str(tmp_path / f"s{i}.png"), "defocus", "dpdd", "test"
            )
        )
    write_manifest(tmp_path / "m.jsonl", records)
    summary = tmp_path / "r.json"
    with registered_metric(MAE):
        assert build_parser().parse_args([*base, "--mae-scale", "s.txt"]).mae_scale == "s.txt"
        rc = main(
            ["eval", "--blurry-input", "--manifest", str(tmp_path / "m.jsonl")]
            + ["--metrics", "psnr", "mean_abs_error", "--mae-scale", str(scale_file)]
            + ["--out", str(tmp_path / "r.csv"), "--summary", str(summary)]
        )
        eval_cfg = yaml.safe_load((REPO / "config" / "config.yaml").read_text())["eval"]
        eval_cfg["mae_scale"] = "scale.txt"
        args = eval_arguments(
            Evaluation("demoe", "gopro", "auto"), "res", manifests("res"), eval_cfg, "niqe.npz"
        )
    assert rc == 0
    errors = [
        np.abs(read_hwc(r.blurry) - read_hwc(r.sharp)).mean() * 2.0 for r in records
    ]  # the 8-bit images the run scores
    means = json.loads(summary.read_text())["means"]
    assert means["mean_abs_error"] == pytest.approx(np.mean(errors), rel=1e-5)
    assert args[args.index("--mae-scale") + 1] == "scale.txt"


def test_a_registered_metric_is_a_table_column_with_its_label_and_decimals(tmp_path) -> None:
    specs = table_specs()
    spec = replace(specs["table6_tlc"], metrics=("psnr", "mean_abs_error"))
    specs = {**specs, spec.name: spec}
    for ev in table_evaluations_shown(spec, specs):
        path = ev.path(tmp_path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"means": {"psnr": 30.0, "mean_abs_error": 0.012345}}))
        ev.path(tmp_path, ".csv").write_text("image,psnr,mean_abs_error\na.png,30.0,0.012345\n")
    with registered_metric(MAE):
        assert format_value(0.123456, "mean_abs_error", REPRODUCED) == "0.1235"
        long, aligned = build_table(spec, tmp_path, specs=specs)
        paths = write_table(tmp_path / "t6", long, spec, aligned, rows=shown_rows(spec, specs))
    md, tex = paths[1].read_text(), paths[2].read_text()
    assert "| Average PSNR↑ (dB) / ΔMAE↓ " in md.splitlines()[2]
    assert "| 30.00 / 0.0123 " in md
    assert r"$\Delta$MAE$\downarrow$" in tex and "Δ" not in tex


def test_unknown_names_are_config_errors_naming_the_valid_ones() -> None:
    pred, target = pair()
    valid = ", ".join(BUILT_IN)
    assert metric_names() == BUILT_IN
    with pytest.raises(ConfigError, match=f"unknown metrics \\['fid'\\]; valid: {valid}"):
        compute_metrics(pred, target, ("psnr", "fid"))
    with pytest.raises(ConfigError, match=f"unknown metric 'fid'; valid: {valid}"):
        create_metric("fid")
    with pytest.raises(ConfigError, match="unknown metric 'fid'"):
        get_metric("fid")
    with pytest.raises(ConfigError, match="unknown metric weight keys"):
        create_metric("psnr", fid_weights="x")


def test_a_full_reference_metric_is_never_scored_as_lpips() -> None:
    """Formerly a full-reference name without its own branch fell through to LPIPS."""
    pred, target = pair()
    other = Metric("other", FULL_REFERENCE, lambda: lambda p, t: 0.5, "OTHER", True, 2)
    with registered_metric(other):
        values, reasons = compute_metrics(pred, target, ("other", "lpips"))
    assert values["other"] == 0.5 and set(reasons) == {"lpips"}  # no LPIPS weights here
    values, reasons = compute_metrics(pred, target, ("psnr", "ssim"))
    assert not reasons and all(math.isfinite(v) for v in values.values())


def test_registration_is_checked_and_never_leaks() -> None:
    with pytest.raises(ConfigError, match="already registered"):
        register_metric(replace(MAE, name="psnr"))
    with pytest.raises(ConfigError, match="lpips_weights already belongs to lpips"):
        register_metric(replace(MAE, weights={"lpips_weights": "x"}))
    with pytest.raises(ConfigError, match="kind"):
        replace(MAE, kind="paired")
    with pytest.raises(ConfigError, match="aligned form"):
        replace(MAE, kind=NO_REFERENCE, aligned=lambda a: 0.0)
    with pytest.raises(ConfigError, match="lower-case identifier"):
        replace(MAE, name="Mean-Abs")
    with pytest.raises(RuntimeError), registered_metric(MAE):
        raise RuntimeError("inside")
    assert metric_names() == BUILT_IN
    assert get_metric("psnr").label == "PSNR↑ (dB)" and get_metric("niqe").label == "NIQE↓"


def test_config_schema_lists_the_registry() -> None:
    """The schema's metric enums and weight keys are the registry's (they cannot drift)."""
    schema = yaml.safe_load((REPO / "config" / "schema" / "config.schema.yaml").read_text())
    eval_schema = schema["properties"]["eval"]
    props = eval_schema["properties"]
    assert sorted(props["metrics"]["items"]["enum"]) == sorted(metric_names(FULL_REFERENCE))
    assert sorted(props["no_reference_metrics"]["items"]["enum"]) == sorted(
        metric_names(NO_REFERENCE)
    )
    for key in weight_keys():
        assert key in eval_schema["required"] and "null" in props[key]["type"], key


def test_a_registered_no_reference_metric_is_required_by_its_own_key(tmp_path: Path) -> None:
    """``eval.require_iqa_files`` checks a new no-reference metric's weight file by the key
    and description of its registry record, without any other edit."""
    sharpness = Metric(
        "sharpness",
        NO_REFERENCE,
        load=lambda sharpness_model=None: lambda image: 0.0,
        display="Sharpness",
        higher_is_better=True,
        decimals=2,
        weights={"sharpness_model": "the sharpness regressor, sharp.npz"},
    )
    cfg = {"require_iqa_files": True, "no_reference_metrics": ["sharpness"]}
    with registered_metric(sharpness):
        with pytest.raises(ConfigError, match=r"set eval.sharpness_model \(the sharpness regr"):
            check_required_files(cfg)
        (tmp_path / "sharp.npz").write_bytes(b"")
        check_required_files({**cfg, "sharpness_model": str(tmp_path / "sharp.npz")})
