"""Our DeMoE reproduces the published model exactly (tests/data/conformance/README.md)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import demoe
from demoe.models import DeMoE, create_model
from demoe.tasks import TASKS


@pytest.fixture(scope="module")
def published(conformance):
    return demoe.load_model(conformance["checkpoint"])


def test_loads_through_load_model_with_the_published_config(published, conformance):
    cfg = conformance["config"]
    assert isinstance(published, DeMoE)
    for key, value in cfg.items():
        assert published.config[key] == value, key
    assert not published.training


def test_router_probabilities_match(published, conformance):
    exp = conformance["expected"]
    with torch.inference_mode():
        probs = published.route(torch.from_numpy(exp["input"]))
    np.testing.assert_allclose(probs.numpy(), exp["probabilities"], atol=1e-5)
    assert exp["probabilities"].argmax(1)[0] != exp["probabilities"].argmax(1)[1]


def test_auto_output_matches(published, conformance):
    exp = conformance["expected"]
    with torch.inference_mode():
        out = published(torch.from_numpy(exp["input"]))
    assert out.shape == exp["input"].shape
    np.testing.assert_allclose(out.numpy(), exp["output_auto"], atol=1e-5)


@pytest.mark.parametrize("task", TASKS)
def test_manual_expert_output_matches(published, conformance, task):
    exp = conformance["expected"]
    with torch.inference_mode():
        out = published(torch.from_numpy(exp["input"]), task=task)
    np.testing.assert_allclose(out.numpy(), exp[f"output_{task}"], atol=1e-5)


def test_items_routed_alone_match_the_grouped_batch(published, conformance):
    exp = conformance["expected"]
    x = torch.from_numpy(exp["input"])
    with torch.inference_mode():
        singles = torch.cat([published(x[i : i + 1]) for i in range(len(x))])
    np.testing.assert_allclose(singles.numpy(), exp["output_auto"], atol=1e-5)


def test_default_config_has_the_published_layout_and_size(conformance):
    model = create_model("demoe")
    layout = {k: list(v.shape) for k, v in model.state_dict().items()}
    assert layout == conformance["default_layout"]
    assert sum(p.numel() for p in model.parameters()) == 20_150_665
