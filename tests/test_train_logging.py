"""A training run talks: BasicSR-style console lines and TensorBoard scalars that agree
with the JSONL log, plain lines when stderr is no terminal, and a failing TensorBoard
writer that costs one notice, not the run."""

from __future__ import annotations

import io
import json
import re
import sys
from contextlib import redirect_stderr

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from demoe import paths
from demoe.tasks import TASKS
from demoe.train.loop import train
from demoe.train.monitor import NOTICE, Monitor
from demoe.train.toy import toy_config, write_toy_aioblur

NUMBER = r"[-+]?\d+(?:\.\d+)?(?:e[-+]\d+)?"
TRAIN_LINE = re.compile(
    r"^\[toy\]\[epoch:\s*(?P<epoch>\d+), iter:\s*(?P<iter>[\d,]+), "
    rf"lr:\((?P<lr>(?:{NUMBER},)+)\)\] "
    r"\[eta: (?P<eta>\d+:\d\d:\d\d), "
    rf"time \(data\): (?P<time>{NUMBER}) \((?P<data>{NUMBER})\), "
    rf"samples/s: (?P<rate>{NUMBER})\] (?P<terms>.*)$"
)
VAL_LINE = re.compile(r"^\[toy\]\[epoch:\s*\d+, iter:\s*(?P<iter>[\d,]+)\] validation (?P<t>.*)$")
TERM = re.compile(rf"(\S+): ({NUMBER})")


@pytest.fixture(scope="module")
def toy(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return write_toy_aioblur(tmp_path_factory.mktemp("toy"))


@pytest.fixture(scope="module")
def run(toy, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Four steps, a line every two, validation at 2 and 4, the progress bar asked for
    (pytest's stderr is no terminal: no bar)."""
    out = tmp_path_factory.mktemp("run")
    config = toy_config(
        toy,
        out,
        schedule={"steps": 4},
        run={"log_every": 2, "val_every": 2, "progress": True},
    )
    err = _train_capturing(config)
    log = [json.loads(line) for line in (out / "checkpoints" / "train_log.jsonl").open()]
    return {"err": err, "log": log, "events": out / "checkpoints" / paths.TENSORBOARD_DIR}


def _train_capturing(config) -> str:
    """What training writes to stderr (a module-scoped fixture cannot use capsys)."""
    buffer = io.StringIO()
    with redirect_stderr(buffer):
        train(config)
    return buffer.getvalue()


def test_console_lines_follow_the_log(run):
    assert "\r" not in run["err"]
    lines = run["err"].splitlines()
    assert lines[0].startswith("[toy] training 4 steps from step 0 on cpu: global batch 4")
    matches = [m for line in lines if (m := TRAIN_LINE.match(line))]
    records = [r for r in run["log"] if r["kind"] == "train"]
    assert [int(m["iter"]) for m in matches] == [r["step"] for r in records] == [2, 4]
    for m, record in zip(matches, records, strict=True):
        assert int(m["epoch"]) == record["epoch"]
        assert float(m["lr"].rstrip(",")) == pytest.approx(record["lr"], rel=1e-3)
        assert float(m["rate"]) == pytest.approx(record["samples_per_s"], abs=0.06)
        assert float(m["time"]) >= float(m["data"]) >= 0
        terms = {k: float(v) for k, v in TERM.findall(m["terms"])}
        assert set(terms) == {"l1", "ce", "loss", "grad_norm"}
        for key, value in terms.items():
            assert value == pytest.approx(record[key], rel=1e-4)
    assert matches[-1]["eta"] == "0:00:00"
    vals = [m for line in lines if (m := VAL_LINE.match(line))]
    assert [int(m["iter"]) for m in vals] == [2, 4]
    last = {k: float(v) for k, v in TERM.findall(vals[-1]["t"])}
    val_record = [r for r in run["log"] if r["kind"] == "val"][-1]
    assert last["psnr_mean"] == pytest.approx(val_record["psnr_mean"], abs=1e-4)
    assert last["router_accuracy"] == pytest.approx(val_record["router_accuracy"], abs=1e-4)


def test_tensorboard_events_hold_the_logged_scalars(run):
    events = EventAccumulator(str(run["events"]))
    events.Reload()
    tags = set(events.Tags()["scalars"])
    train_tags = {"l1", "ce", "loss", "lr", "grad_norm", "samples_per_s", "step_time"}
    val_tags = {"psnr_mean", "router_accuracy", *(f"psnr/{t}" for t in TASKS)}
    assert {f"train/{t}" for t in train_tags} | {f"val/{t}" for t in val_tags} <= tags
    records = {r["step"]: r for r in run["log"] if r["kind"] == "train"}
    for tag in ("l1", "lr", "grad_norm"):
        scalars = events.Scalars(f"train/{tag}")
        assert [s.step for s in scalars] == [2, 4]
        for s in scalars:
            assert s.value == pytest.approx(records[s.step][tag], rel=1e-6)
    val = [r for r in run["log"] if r["kind"] == "val"]
    assert [s.value for s in events.Scalars("val/psnr_mean")] == pytest.approx(
        [r["psnr_mean"] for r in val], rel=1e-6
    )


def test_a_failing_writer_leaves_training_on(toy, tmp_path, monkeypatch):
    from torch.utils.tensorboard import SummaryWriter

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(SummaryWriter, "add_scalar", broken)
    config = toy_config(toy, tmp_path, schedule={"steps": 2}, run={"log_every": 1})
    err = _train_capturing(config)
    notices = [line for line in err.splitlines() if line.startswith(NOTICE)]
    assert notices == [f"{NOTICE}toy: TensorBoard logging stopped (disk full); training goes on"]
    assert len([line for line in err.splitlines() if TRAIN_LINE.match(line)]) == 2
    assert (tmp_path / "model" / paths.WEIGHTS_FILE).is_file()


def test_only_the_main_process_talks(tmp_path, capsys):
    quiet = Monitor("toy", 4, 0, tmp_path / "tb", progress=True, enabled=False)
    quiet.start("header")
    quiet.train({"step": 1, "kind": "train", "epoch": 0, "l1": 0.5, "samples_per_s": 1.0}, [1e-3])
    quiet.val({"step": 1, "kind": "val", "psnr_mean": 20.0}, 0)
    quiet.close()
    assert capsys.readouterr().err == ""
    assert not (tmp_path / "tb").exists()


def test_the_bar_only_on_a_terminal(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    shown = Monitor("toy", 4, 0, None, progress=True)
    hidden = Monitor("toy", 4, 0, None, progress=False)
    assert not shown.bar.disable and hidden.bar.disable
    shown.mark()
    shown.data_ready()
    shown.step_done(0.25)
    shown.train({"step": 1, "kind": "train", "epoch": 0, "l1": 0.25, "samples_per_s": 2.0}, [1e-3])
    shown.close()
    hidden.close()
    assert any(TRAIN_LINE.match(line) for line in capsys.readouterr().err.splitlines())
