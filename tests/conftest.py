"""Shared fixtures."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
DATA = Path(__file__).parent / "data"
CONFORMANCE = DATA / "conformance"


def run_snakemake(
    *args: str,
    configs: Sequence[str | Path] = (),
    results: str | Path | None = None,
    timeout: float = 900,
) -> subprocess.CompletedProcess[str]:
    """``python -m snakemake *args`` in the repository with this interpreter's tools first
    on PATH (the rules call them), ``--configfile *configs`` and ``--config
    results=<results>`` when given; output captured as text, never raising on failure."""
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    cmd = [sys.executable, "-m", "snakemake"]
    if configs:
        cmd += ["--configfile", *map(str, configs)]
    cmd += args
    if results is not None:
        cmd += ["--config", f"results={results}"]
    return subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)


#: Test modules collected first: the end-to-end DAG (about two thirds of the suite's
#: critical path). `make test` runs the suite on every core (pytest-xdist, one module per
#: worker at a time), so starting it first lets the other workers run the rest meanwhile.
FIRST_MODULES: tuple[str, ...] = ("test_workflow_e2e.py",)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The modules of :data:`FIRST_MODULES` first; every other order kept."""
    items.sort(key=lambda item: item.path.name not in FIRST_MODULES)


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


@pytest.fixture(scope="session")
def conformance() -> dict:
    """The published-layout checkpoint, its config and the published model's outputs."""
    expected = np.load(CONFORMANCE / "demoe_small_expected.npz")
    return {
        "checkpoint": CONFORMANCE / "demoe_small_published_layout.pth",
        "config": json.loads((CONFORMANCE / "demoe_small_config.json").read_text()),
        "expected": {k: expected[k] for k in expected.files},
        "default_layout": json.loads(
            (CONFORMANCE / "demoe_default_state_dict_layout.json").read_text()
        ),
    }


def randomize_affine(model: torch.nn.Module, scale: float = 0.3) -> torch.nn.Module:
    """Give beta/gamma/LayerNorm non-trivial values (they start at identity)."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith(("beta", "gamma")) or ".norm" in name:
                p.add_(torch.randn_like(p) * scale)
    return model


def long_row(long, method: str, origin: str, dataset: str, metric: str = "psnr"):
    """The one row of a results table's long frame for a method, origin, dataset, metric."""
    sel = long[
        (long.method == method)
        & (long.origin == origin)
        & (long.dataset == dataset)
        & (long.metric == metric)
    ]
    assert len(sel) == 1, (method, origin, dataset, metric)
    return sel.iloc[0]
