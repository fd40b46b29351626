"""Small faults of bad input (empty files, odd configs, damaged checkpoints), one test each."""

from __future__ import annotations

import json
import math
import random
import shlex
import subprocess
from pathlib import Path

import jsonschema
import pytest
import torch
import yaml
from conftest import run_snakemake

from demoe.cli.train import resolve_cli_config
from demoe.errors import CheckpointError, ConfigError
from demoe.experiments.catalogue import resolve_config
from demoe.io.checkpoint import read_checkpoint
from demoe.models.checkpoint import load_model, save_model
from demoe.models.registry import create_model
from demoe.train import checkpoints as ckpt
from demoe.train.config import BOOKKEEPING_KEYS, from_dict
from demoe.train.loop import Trainer, TrainingDiverged
from demoe.train.toy import toy_config, write_toy_aioblur


@pytest.mark.parametrize("head", [b"", b"\x80\x02", b"PK\x03\x04"])
def test_random_bytes_pth_is_not_a_checkpoint(tmp_path, head):
    # Seeded, and many of them: random bytes spell any opcode (GLOBAL included) and make
    # the unpickler fail with any error type; each is a one-line CheckpointError.
    path = tmp_path / "random.pth"
    for seed in range(300):
        path.write_bytes(head + random.Random(seed).randbytes(4096))
        with pytest.raises(CheckpointError) as err:
            read_checkpoint(path)
        assert "pickled code" not in str(err.value), (seed, str(err.value))
    path.write_bytes(b"")
    with pytest.raises(CheckpointError, match="empty"):
        read_checkpoint(path)


def test_config_claiming_other_sizes_is_refused_before_building(tmp_path, monkeypatch):
    folder = save_model(create_model("nafnet", width=4), tmp_path / "m")
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, "width": 4096}))
    import demoe.models.checkpoint as checkpoint

    def no_build(_):
        raise AssertionError("a model was built from a config that contradicts the weights")

    monkeypatch.setattr(checkpoint, "build_model", no_build)
    with pytest.raises(CheckpointError, match="width: config 4096 vs weights 4"):
        load_model(folder)


def _train_commands(results: Path) -> list[str]:
    run = run_snakemake("-n", "-p", "--cores", "1", results=results, timeout=300)
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


@pytest.fixture(scope="module")
def toy(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return write_toy_aioblur(tmp_path_factory.mktemp("toy"))


def test_weights_blown_up_by_an_update_never_reach_a_checkpoint(toy, tmp_path):
    config = toy_config(toy, tmp_path, schedule={"steps": 6}, run={"checkpoint_every": 1})
    trainer = Trainer(config)
    real_step, calls = trainer.optimizer.step, {"n": 0}

    def step(*args, **kwargs):  # a finite loss and gradient, but an update that overflows
        out = real_step(*args, **kwargs)
        calls["n"] += 1
        if calls["n"] == 3:
            with torch.no_grad():
                trainer.params[0].view(-1)[0] = math.inf
        return out

    trainer.optimizer.step = step
    with pytest.raises(TrainingDiverged, match="update of step 3 made weights non-finite"):
        trainer.fit()
    last = ckpt.load_checkpoint(config.checkpoint_dir)
    assert last["state"]["step"] == 2
    assert all(torch.isfinite(v.float()).all() for v in last["model"].values())
    assert not (Path(config.output) / "model.safetensors").exists()


def test_unknown_experiment_names_are_errors():
    profile = yaml.safe_load(Path("config/config.yaml").read_text(encoding="utf-8"))["train"]
    own = profile["experiments"][profile["profile"]]
    profile["experiments"][profile["profile"]] = {**own, "baselin_aio": {"schedule.steps": 3}}
    with pytest.raises(ConfigError, match="unknown experiment.*baselin_aio"):
        resolve_config("baseline_aio", profile)


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("optim.lr", math.inf),
        ("optim.lr", math.nan),
        ("run.device", "tpu"),
        ("run.device", "cpu; rm -rf x"),
        ("schedule.steps", None),  # with epochs .inf below
    ],
)
def test_non_finite_rates_and_unknown_devices_are_refused(toy, tmp_path, key, value):
    obj = toy_config(toy, tmp_path).to_dict()
    section, name = key.split(".")
    obj[section][name] = value
    if value is None:
        obj["schedule"]["epochs"] = math.inf
    with pytest.raises(ConfigError, match=key.split(".")[0]):
        from_dict(obj)


def test_schema_refuses_unknown_devices():
    schema = yaml.safe_load(Path("config/schema/config.schema.yaml").read_text(encoding="utf-8"))
    config = yaml.safe_load(Path("config/config.yaml").read_text(encoding="utf-8"))
    validator = jsonschema.Draft202012Validator(schema)
    assert validator.is_valid(config)
    config["train"]["settings"]["run"]["device"] = "tpu"
    assert not validator.is_valid(config)
    config["train"]["settings"]["run"]["device"] = "cuda:1"
    config["eval"]["device"] = "cuda"
    assert validator.is_valid(config)


def test_make_reproduce_continues_an_interrupted_run(tmp_path):
    # -n only prints; the stamp is a path that is not a makefile (make would remake those)
    dry = subprocess.run(
        ["make", "-n", "reproduce", f"VENV={tmp_path}/venv", f"STAMP={tmp_path}/stamp"],
        capture_output=True,
        text=True,
        check=True,
    )
    snakemake_line = next(line for line in dry.stdout.splitlines() if "snakemake" in line)
    assert "--rerun-incomplete" in shlex.split(snakemake_line)


def test_a_full_disk_anywhere_is_one_line(monkeypatch, tmp_path, capsys):
    """A full disk while `demoe eval` or a checkpoint writes: one line, status 2; an OS
    error that is a bug still raises."""
    import errno

    from demoe.errors import run_reporting_errors

    def full(*_args, **_kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "x.json"))

    assert run_reporting_errors("demoe eval", full) == 2
    err = capsys.readouterr().err
    assert (
        err == f"demoe eval: error: cannot write: {tmp_path / 'x.json'}: No space left on device\n"
    )

    def bug():
        raise OSError(errno.EBADF, "Bad file descriptor")

    with pytest.raises(OSError):
        run_reporting_errors("demoe eval", bug)
