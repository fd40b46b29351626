"""`demoe eval`: per-image CSV, router columns, n/a metrics and bad pairs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import randomize_affine
from skimage.metrics import peak_signal_noise_ratio

import demoe
from demoe.cli import main
from demoe.data.images import read_hwc, write_image
from demoe.data.manifest import Record, write_manifest
from demoe.models import create_model
from demoe.tasks import TASKS


@pytest.fixture
def setup(tmp_path):
    rng = np.random.default_rng(0)
    records = []
    for i, (dataset, task) in enumerate([("gopro", "synth_global_motion"), ("dpdd", "defocus")]):
        sharp = rng.random((20, 24, 3))
        blurry = np.clip(sharp + rng.normal(0, 0.05, sharp.shape), 0, 1)
        write_image(tmp_path / f"b{i}.png", blurry)
        write_image(tmp_path / f"s{i}.png", sharp)
        records.append(
            Record(str(tmp_path / f"b{i}.png"), str(tmp_path / f"s{i}.png"), task, dataset, "test")
        )
    write_manifest(tmp_path / "m.jsonl", records)
    demoe.save_model(randomize_affine(create_model("demoe_small")), tmp_path / "model")
    return tmp_path


def _eval(setup: Path, *args: str) -> int:
    """``demoe eval`` of the fixture's model on its manifest with ``args``."""
    return main(
        ["eval", "--model", str(setup / "model"), "--manifest", str(setup / "m.jsonl"), *args]
    )


def test_eval_writes_per_image_metrics_and_router_outputs(setup):
    out, summary = setup / "r.csv", setup / "r.json"
    rc = _eval(
        setup, "--out", str(out), "--summary", str(summary), "--save-images", str(setup / "img")
    )
    assert rc == 0
    df = pd.read_csv(out)
    assert list(df["dataset"]) == ["gopro", "dpdd"]
    assert {f"prob_{t}" for t in TASKS} <= set(df.columns)
    np.testing.assert_allclose(df[[f"prob_{t}" for t in TASKS]].sum(axis=1), 1.0, atol=1e-5)
    assert set(df["routed"]) <= set(TASKS)
    # PSNR is computed on the saved 8-bit restoration against the 8-bit target
    restored = read_hwc(sorted((setup / "img").iterdir())[0])
    expected = peak_signal_noise_ratio(read_hwc(setup / "s0.png"), restored, data_range=1.0)
    assert df["psnr"][0] == pytest.approx(expected, abs=1e-4)
    info = json.loads(summary.read_text())
    assert np.isnan(df["lpips"]).all()  # n/a, never 0
    assert "lpips" in info["unavailable"]


def test_forced_expert_and_dataset_filter(setup):
    out = setup / "r.csv"
    options = ["--dataset", "dpdd", "--task", "gopro", "--metrics", "psnr"]
    assert _eval(setup, *options, "--out", str(out)) == 0
    df = pd.read_csv(out)
    assert list(df["dataset"]) == ["dpdd"] and list(df["expert"]) == ["gopro"]


def test_missing_manifest_images_are_listed_before_any_work(setup, capsys):
    (setup / "s1.png").unlink()
    out = setup / "r.csv"
    assert _eval(setup, "--out", str(out)) == 2
    assert "1 image(s) missing" in capsys.readouterr().err and not out.exists()


def test_bad_pairs_are_failed_rows_and_empty_selection_an_error(setup, capsys):
    write_image(setup / "s1.png", np.zeros((10, 10, 3)))  # size mismatch
    rc = _eval(setup, "--out", str(setup / "r.csv"), "--summary", str(setup / "r.json"))
    assert rc == 0 and "1 of 2 images failed" in capsys.readouterr().out
    df = pd.read_csv(setup / "r.csv")
    assert df["error"].isna().tolist() == [True, False] and "size mismatch" in df["error"][1]
    summary = json.loads((setup / "r.json").read_text())
    assert summary["failed"] == 1 and summary["failures"][0]["image"].endswith("b1.png")
    assert summary["means"]["psnr"] == pytest.approx(df["psnr"][0])  # the scored image only
    rc = _eval(setup, "--dataset", "lolblur", "--out", str(setup / "r.csv"))
    assert rc == 2 and "no test records" in capsys.readouterr().err


def _run(setup, name, *extra):
    out = setup / f"{name}.csv"
    summary = str(out.with_suffix(".json"))
    rc = _eval(setup, "--metrics", "psnr", "--out", str(out), "--summary", summary, *extra)
    assert rc == 0
    return pd.read_csv(out)["psnr"], json.loads(out.with_suffix(".json").read_text())


def test_tlc_option_changes_the_restoration_and_is_recorded(setup):
    """Table 6: --tlc all / --tlc <tasks> switch channel attention to local pooling."""
    plain, info = _run(setup, "plain")
    everywhere, info_all = _run(setup, "all", "--tlc", "all", "--tlc-train-size", "8")
    chosen, info_chosen = _run(
        setup, "chosen", "--task", "gopro", "--tlc", "gopro,dpdd", "--tlc-train-size", "8"
    )
    forced, _ = _run(setup, "forced", "--task", "gopro")
    assert info["tlc"] is None and info_all["tlc"] == "all" and info_all["tlc_train_size"] == 8
    assert info_chosen["tlc"] == "synth_global_motion,defocus"
    assert not np.allclose(plain, everywhere)
    assert not np.allclose(forced, chosen)  # TLC on the forced expert's blocks


def test_tlc_option_rejects_unknown_tasks(setup, capsys):
    with pytest.raises(SystemExit):
        main(["eval", "--model", "m", "--manifest", "m", "--out", "o", "--tlc", "blurry"])
    assert "unknown task 'blurry'" in capsys.readouterr().err


def test_niqe_fit_writes_a_model_from_the_sharp_images(tmp_path):
    rng = np.random.default_rng(0)
    records = []
    for i in range(3):
        write_image(tmp_path / f"s{i}.png", rng.random((96, 192, 3)))
        records.append(
            Record(str(tmp_path / f"s{i}.png"), str(tmp_path / f"s{i}.png"), None, "gopro", "train")
        )
    write_manifest(tmp_path / "m.jsonl", records)
    out = tmp_path / "niqe.npz"
    assert (
        main(
            [
                "niqe-fit",
                "--manifest",
                str(tmp_path / "m.jsonl"),
                "--max-images",
                "2",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    with np.load(out) as params:
        assert params["mu"].shape == (36,) and params["cov"].shape == (36, 36)
    assert (
        main(
            [
                "niqe-fit",
                "--manifest",
                str(tmp_path / "m.jsonl"),
                "--split",
                "test",
                "--out",
                str(out),
            ]
        )
        == 2
    )


def test_blurry_input_scores_the_degraded_image_itself(setup, capsys):
    """The blurry-input reference row: PSNR of the 8-bit blurry input against the 8-bit target."""
    out = setup / "blurry.csv"
    common = ["eval", "--blurry-input", "--manifest", str(setup / "m.jsonl"), "--out", str(out)]
    rc = main([*common, "--metrics", "psnr", "ssim", "--summary", str(setup / "blurry.json")])
    assert rc == 0
    df = pd.read_csv(out)
    for i in range(2):
        blurry, sharp = read_hwc(setup / f"b{i}.png"), read_hwc(setup / f"s{i}.png")
        expected = peak_signal_noise_ratio(sharp, blurry, data_range=1.0)
        assert df["psnr"][i] == pytest.approx(expected, abs=1e-4)
    assert "routed" not in df.columns  # no router
    info = json.loads((setup / "blurry.json").read_text())
    assert info["model"] == "blurry_input" and info["means"]["psnr"] == pytest.approx(
        df["psnr"].mean()
    )
    assert main([*common, "--tlc", "all"]) == 2
    assert "--blurry-input has no model" in capsys.readouterr().err
    with pytest.raises(SystemExit):  # a model and the blurry input: one or the other
        main([*common, "--model", str(setup / "model")])


# --- `demoe eval-plan`: many evaluations of one model in one process ---


def _entry(setup, name, *extra):
    """One plan entry: the `demoe eval` arguments of one evaluation writing ``name``.*."""
    out = setup / f"{name}.csv"
    return [
        "--manifest",
        str(setup / "m.jsonl"),
        "--metrics",
        "psnr",
        "ssim",
        *extra,
        "--out",
        str(out),
        "--summary",
        str(out.with_suffix(".json")),
    ]


def _single(setup, entry, source=("--model",)):
    """The same evaluation as one `demoe eval` call."""
    model = [] if source == ("--blurry-input",) else [str(setup / "model")]
    assert main(["eval", *source, *model, *entry]) == 0


def _outputs(setup, name):
    csv = (setup / f"{name}.csv").read_text()
    return csv, json.loads((setup / f"{name}.json").read_text())


def test_eval_plan_writes_what_single_calls_write_and_tlc_does_not_leak(setup):
    """A TLC entry (Table 6) between plain ones: each file equals its single call's."""
    runs = {
        "plain": (),
        "tlc": ("--tlc", "all", "--tlc-train-size", "8"),
        "expert": ("--dataset", "dpdd", "--task", "gopro"),
        "chosen": ("--task", "gopro", "--tlc", "gopro,dpdd", "--tlc-train-size", "8"),
        "plain_again": (),
    }
    plan = [_entry(setup, f"plan_{name}", *extra) for name, extra in runs.items()]
    rc = main(["eval-plan", "--model", str(setup / "model"), "--plan", json.dumps(plan)])
    assert rc == 0
    for name, extra in runs.items():
        _single(setup, _entry(setup, f"single_{name}", *extra))
        (plan_csv, plan_json), (single_csv, single_json) = (
            _outputs(setup, f"{kind}_{name}") for kind in ("plan", "single")
        )
        assert plan_csv == single_csv, name
        plan_json.pop("model"), single_json.pop("model")
        assert plan_json == single_json, name
    plain, tlc = (pd.read_csv(setup / f"plan_{n}.csv")["psnr"] for n in ("plain", "tlc"))
    assert not np.allclose(plain, tlc)  # TLC did change that entry's restoration
    assert _outputs(setup, "plan_plain") == _outputs(setup, "plan_plain_again")
    assert json.loads((setup / "plan_tlc.json").read_text())["model"] == str(setup / "model")


def test_eval_plan_reads_a_plan_file_and_scores_the_blurry_input(setup):
    entries = [_entry(setup, "plan_gopro", "--dataset", "gopro"), _entry(setup, "plan_both")]
    plan = setup / "plan.json"
    plan.write_text(json.dumps(entries))
    assert main(["eval-plan", "--blurry-input", "--plan", str(plan)]) == 0
    for name, entry in zip(("gopro", "both"), entries, strict=True):
        _single(setup, _entry(setup, f"single_{name}", *entry[5:-4]), ("--blurry-input",))
        assert _outputs(setup, f"plan_{name}") == _outputs(setup, f"single_{name}")
    assert json.loads((setup / "plan_both.json").read_text())["model"] == "blurry_input"


def test_eval_plan_failed_image_is_a_row_and_the_other_evaluations_run(setup, capsys):
    write_image(setup / "s1.png", np.zeros((10, 10, 3)))  # dpdd: size mismatch
    plan = [_entry(setup, "both"), _entry(setup, "gopro", "--dataset", "gopro")]
    rc = main(["eval-plan", "--model", str(setup / "model"), "--plan", json.dumps(plan)])
    assert rc == 0 and "1 of 2 images failed" in capsys.readouterr().out
    both = json.loads((setup / "both.json").read_text())
    assert both["failed"] == 1 and "size mismatch" in both["failures"][0]["error"]
    gopro = json.loads((setup / "gopro.json").read_text())
    assert gopro["failed"] == 0 and gopro["images"] == 1
    assert gopro["means"]["psnr"] == pytest.approx(both["means"]["psnr"])  # the same image


def test_eval_plan_refuses_bad_plans_before_any_work(setup, capsys):
    call = ["eval-plan", "--model", str(setup / "model"), "--plan"]
    good = _entry(setup, "good")
    # a missing image in any entry: nothing written, as with `demoe eval`
    (setup / "s1.png").unlink()
    assert main([*call, json.dumps([_entry(setup, "g", "--dataset", "gopro"), good])]) == 2
    assert "1 image(s) missing" in capsys.readouterr().err
    assert not (setup / "g.csv").exists() and not (setup / "good.csv").exists()
    # the model and the device are the call's, not an entry's
    assert main([*call, json.dumps([[*good, "--device", "cuda"]])]) == 2
    assert "belong to the eval-plan call" in capsys.readouterr().err
    assert main([*call, json.dumps([[*good, "--blurry-input"]])]) == 2
    assert main([*call, json.dumps([["--out", "x.csv"]])]) == 2  # no --manifest
    assert "--plan entry 0" in capsys.readouterr().err
    for bad in ("[]", '[["--out", 3]]', str(setup / "no_such_plan.json")):
        assert main([*call, bad]) == 2
    assert not (setup / "good.csv").exists()
