"""`demoe models` and `demoe cost`."""

from __future__ import annotations

import json

import demoe
from demoe.cli import main
from demoe.models import PRESETS, create_model


def test_models_list_names_every_preset(capsys):
    assert main(["models", "list"]) == 0
    out = capsys.readouterr().out
    assert all(f"{name}:" in out for name in PRESETS)


def test_models_info_reports_config_and_parameters(tmp_path, capsys):
    demoe.save_model(create_model("demoe_small"), tmp_path / "m")
    assert main(["models", "info", str(tmp_path / "m")]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["architecture"] == "demoe" and info["width"] == 8
    assert info["params"] == sum(p.numel() for p in create_model("demoe_small").parameters())


def test_models_info_on_a_bad_file_is_one_line(tmp_path, capsys):
    (tmp_path / "x.pth").write_bytes(b"garbage")
    assert main(["models", "info", str(tmp_path / "x.pth")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("demoe models: error:") and "\n" not in err


def test_cost_prints_one_json_line_per_model(capsys):
    assert main(["cost", "demoe_small", "--size", "32", "--repeats", "1", "--warmup", "0"]) == 0
    row = json.loads(capsys.readouterr().out)
    assert row["model"] == "demoe_small" and row["macs_g"] > 0 and row["size"] == 32
