"""``demoe data`` sub-commands, and the Table 4 / Fig. 10 scripts on a built tree."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from demoe.cli import data as cli
from demoe.data.manifest import read_manifest
from demoe.errors import DataError

REPO = Path(__file__).resolve().parents[1]


def run(*argv: str) -> int:
    parser = argparse.ArgumentParser()
    cli.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["data", *argv])
    return args.func(args)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    base = tmp_path_factory.mktemp("cli")
    assert run("synth-aioblur", "--out", str(base / "syn"), "--scale", "tiny") == 0
    assert run("build-aioblur", "--root", str(base / "syn"), "--out", str(base / "man")) == 0
    return base


def test_build_writes_all_outputs(built):
    man = built / "man"
    for name in (
        "aioblur_train.jsonl",
        "aioblur_test.jsonl",
        "aioblur_ood.jsonl",
        "build_report.json",
        "mse_pairs.csv",
    ):
        assert (man / name).is_file()
    # tiny: realblur 4 kept, reloblur 3->6, gopro 3->6, dpdd 2->22, lolblur 12->5
    assert len(read_manifest(man / "aioblur_train.jsonl")) == 4 + 6 + 6 + 22 + 5


def test_build_with_config_file_and_data_json(built, tmp_path):
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    config["data"]["balance"]["mode"] = "absolute"
    config["data"]["balance"]["final"] = {"dpdd": 3}
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(config))
    run(
        "build-aioblur",
        "--root",
        str(built / "syn"),
        "--out",
        str(tmp_path / "a"),
        "--config",
        str(path),
    )
    report = json.loads((tmp_path / "a" / "build_report.json").read_text())
    assert report["datasets"]["dpdd"]["balance"]["final"] == 3
    run(
        "build-aioblur",
        "--root",
        str(built / "syn"),
        "--out",
        str(tmp_path / "b"),
        "--data-json",
        json.dumps(config["data"]),
    )
    assert (tmp_path / "b" / "build_report.json").read_text() == json.dumps(report, indent=2) + "\n"


def test_empty_root_fails(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="data.roots.gopro"):
        run("build-aioblur", "--root", str(tmp_path / "empty"), "--out", str(tmp_path / "o"))
    assert not (tmp_path / "o").exists()


def test_main_exit_status_on_empty_root(tmp_path):
    code = (
        "import sys, argparse; from demoe.cli import data as cli; from demoe.errors import DemoeError\n"
        "p = argparse.ArgumentParser(); cli.register(p.add_subparsers(dest='c'))\n"
        "a = p.parse_args(sys.argv[1:])\n"
        "try:\n    a.func(a)\nexcept DemoeError as e:\n    print(e, file=sys.stderr); sys.exit(2)\n"
    )
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            code,
            "data",
            "build-aioblur",
            "--root",
            str(tmp_path),
            "--out",
            str(tmp_path / "o"),
        ],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2 and "does not exist" in proc.stderr


def test_build_pairs_for_own_data(built, tmp_path):
    root = built / "syn" / "DPDD" / "test_c"
    out = tmp_path / "mine.jsonl"
    run(
        "build-pairs",
        "--root",
        str(root),
        "--out",
        str(out),
        "--task",
        "dpdd",
        "--dataset",
        "mine",
        "--blurry",
        "source",
        "--sharp",
        "target",
    )
    recs = read_manifest(out)
    assert len(recs) == 2 and {r.task for r in recs} == {"defocus"}
    with pytest.raises(DataError, match="no usable pairs"):
        run(
            "build-pairs",
            "--root",
            str(tmp_path),
            "--out",
            str(out),
            "--task",
            "none",
            "--dataset",
            "x",
        )


def test_table4_and_fig10_scripts(built, tmp_path):
    man = built / "man"
    subprocess.run(
        [
            sys.executable,
            str(REPO / "analysis" / "table4_aioblur_distribution.py"),
            "--report",
            str(man / "build_report.json"),
            "--csv",
            str(tmp_path / "t4.csv"),
            "--md",
            str(tmp_path / "t4.md"),
            "--note",
            "Miniature run: embedded synthetic data.",
        ],
        check=True,
    )
    table = pd.read_csv(tmp_path / "t4.csv").set_index("dataset")
    assert table.loc["DPDD", "train_final"] == 22 and table.loc["LOLBlur", "action"] == "mse_bins"
    assert table.loc["Total", "train_final"] == 43
    md = (tmp_path / "t4.md").read_text()
    assert "| RealBlur-J" in md and md.startswith("**Table 4: AIO-Blur sample distribution")
    assert md.endswith("- Miniature run: embedded synthetic data.\n")
    subprocess.run(
        [
            sys.executable,
            str(REPO / "analysis" / "fig10_lolblur_mse.py"),
            "--report",
            str(man / "build_report.json"),
            "--mse",
            str(man / "mse_pairs.csv"),
            "--pdf",
            str(tmp_path / "f.pdf"),
            "--png",
            str(tmp_path / "f.png"),
        ],
        check=True,
    )
    assert (tmp_path / "f.pdf").read_bytes()[:4] == b"%PDF"
    assert (tmp_path / "f.png").read_bytes()[:4] == b"\x89PNG"
