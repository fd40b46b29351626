"""The benchmark scripts of ``benchmarks/`` run end to end at toy sizes (smoke only).

Their numbers are recorded by hand in ``benchmarks/README.md`` (machine and command
named); this only keeps the scripts from rotting: each exits 0 and prints the rows it
promises. No timing is asserted. The GPU scripts are covered by ``test_gpu_session.py``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"

CPU = ["--device", "cpu"]

#: script, toy arguments, and a line its output must hold.
CASES = [
    ("bench_tiling.py", ["--size", "64", "48", "--tile", "32", *CPU], "| 64×48 | tiled 32 |"),
    ("bench_models.py", ["--sizes", "32", "--repeats", "1", "--warmup", "0", *CPU], "| 32 |"),
    ("bench_synthetic_generation.py", ["--size", "32", "--pairs", "2"], "pairs/s"),
    ("bench_loader.py", ["--pairs", "1", "--crops", "2"], "Table 4 mix"),
    (
        "bench_training.py",
        ["--crop", "32", "--batch", "2", "--steps", "1", "--warmup", "0", "--rounds", "1", *CPU],
        "trainer",
    ),
]


@pytest.mark.parametrize(("script", "args", "expected"), CASES, ids=[c[0] for c in CASES])
def test_benchmark_runs_at_toy_size(script: str, args: list[str], expected: str) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run(
        [sys.executable, str(BENCHMARKS / script), *args],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert expected in result.stdout, result.stdout
