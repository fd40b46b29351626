"""The smaller faults of issue 12 (item 6), one test each."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from demoe.errors import CheckpointError
from demoe.io.checkpoint import load_model, read_checkpoint, save_model
from demoe.models.registry import create_model
from demoe.train.cli import resolve_cli_config
from demoe.train.config import BOOKKEEPING_KEYS
from demoe.train.experiments import resolve_config


def test_random_bytes_pth_is_not_a_checkpoint(tmp_path):
    path = tmp_path / "random.pth"
    for head in (b"", b"\x80\x02", b"PK\x03\x04"):
        path.write_bytes(head + os.urandom(4096))
        with pytest.raises(CheckpointError) as err:
            read_checkpoint(path)
        assert "pickled code" not in str(err.value)
    path.write_bytes(b"")
    with pytest.raises(CheckpointError, match="empty"):
        read_checkpoint(path)


def test_config_claiming_other_sizes_is_refused_before_building(tmp_path, monkeypatch):
    folder = save_model(create_model("nafnet", width=4), tmp_path / "m")
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, "width": 4096}))
    import demoe.io.checkpoint as checkpoint

    def no_build(_):
        raise AssertionError("a model was built from a config that contradicts the weights")

    monkeypatch.setattr(checkpoint, "build_model", no_build)
    with pytest.raises(CheckpointError, match="width: config 4096 vs weights 4"):
        load_model(folder)


def _train_commands(results: Path) -> list[str]:
    repo = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    run = subprocess.run(
        [sys.executable, "-m", "snakemake", "-n", "-p", "--cores", "1"]
        + ["--config", f"results={results}"],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    prefix = "Shell command: "
    return [line[len(prefix) :] for line in run.stdout.splitlines() if " demoe.cli train " in line]


def test_train_jobs_get_bookkeeping_outside_hashed_params(tmp_path):
    """run.log_every & co. reach the trainer as overrides of a param Snakemake does not
    hash; the command still resolves to exactly the experiment's config."""
    profile = yaml.safe_load(Path("config/config.yaml").read_text(encoding="utf-8"))
    commands = _train_commands(tmp_path)
    assert len(commands) > 10
    for command in commands:
        tokens = shlex.split(command.split(" 2>&1 ")[0])
        args = tokens[tokens.index("train") + 1 : tokens.index("--resume")]
        inline, overrides = args[0], args[1:]
        blanked = json.loads(inline)
        assert all(blanked[k.split(".")[0]][k.split(".")[1]] is None for k in BOOKKEEPING_KEYS)
        assert sorted(o.split("=")[0] for o in overrides) == sorted(BOOKKEEPING_KEYS)
        config = resolve_cli_config(inline, overrides, "config/config.yaml", None)
        expected = resolve_config(config.experiment, profile["train"], str(tmp_path))
        assert config == expected
