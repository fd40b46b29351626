"""Shared fixtures."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

DATA = Path(__file__).parent / "data"
CONFORMANCE = DATA / "conformance"


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
