"""benchmarks/gpu_session.sh, the prepared device call of the GPU checks, on a CPU (SMOKE=1)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "gpu_session.sh"


def _run(out: Path, *steps: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "SMOKE": "1", "OUT": str(out), "PYTHON": sys.executable}
    return subprocess.run(
        ["bash", str(SCRIPT), *steps], env=env, capture_output=True, text=True, timeout=300
    )


def test_every_step_runs_and_is_recorded(tmp_path):
    result = _run(tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    rows = [line.split("\t") for line in (tmp_path / "steps.tsv").read_text().splitlines()[1:]]
    assert [(name, rc) for name, rc, _ in rows] == [
        (name, "0") for name in ("env", "test_gpu", "bench_gpu", "levers_1", "levers_2")
    ]
    bench = [json.loads(line) for line in (tmp_path / "bench_gpu.txt").read_text().splitlines()]
    assert {(r["bench"], r["row"]) for r in bench} == {
        ("forward", "demoe_k1"),
        ("forward", "nafnet_baseline"),
        ("train", "stage1"),
        ("train", "stage2"),
    }
    assert "loss curves over 3 steps" in (tmp_path / "levers_1.txt").read_text()


def test_a_failed_or_unknown_step_fails_the_call_and_the_next_still_runs(tmp_path):
    result = _run(tmp_path, "nonsense", "env")
    assert result.returncode == 1
    assert "unknown step 'nonsense'" in result.stderr
    assert (tmp_path / "env.txt").is_file()
