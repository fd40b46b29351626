"""The compared methods of Table 1 as experiments: stage "compared" on all of AIO-Blur with
the L1 loss, shrunk by their own rule in the small profile, DeMoE's stage-1 recipe by
default and their official one on request."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from demoe.errors import ConfigError
from demoe.experiments.catalogue import (
    COMPARED_ARCHITECTURES,
    COMPARED_STAGE,
    EXPERIMENTS,
    OFFICIAL_RECIPES,
    STAGES,
    compared_experiment,
    resolve_dict,
    scaled_model,
)
from demoe.models.registry import SHRINK, build_model, model_config
from demoe.tasks import AIO_BLUR
from demoe.workflow import planned_compared, unplanned_experiments

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def small() -> dict:
    return yaml.safe_load((REPO / "config" / "config.yaml").read_text())["train"]


@pytest.mark.parametrize("arch", COMPARED_ARCHITECTURES)
def test_each_compared_method_trains_on_aio_blur_with_l1(arch: str, small: dict) -> None:
    exp = EXPERIMENTS[compared_experiment(arch)]
    assert exp.stage == COMPARED_STAGE in STAGES
    assert exp.preset == arch and exp.datasets == AIO_BLUR and exp.lambda_cls == 0
    cfg = resolve_dict(exp.name, small)
    assert cfg["loss"]["lambda_cls"] == 0 and cfg["init"]["source"] is None
    # The default recipe is stage 1's: the profile's settings and its stage1 overrides.
    stage1 = resolve_dict("baseline_aio", small)
    for section in ("optim", "schedule"):
        assert cfg[section] == stage1[section]
    assert cfg["schedule"]["steps"] == small["experiments"]["small"]["stage1"]["schedule.steps"]


@pytest.mark.parametrize("arch", COMPARED_ARCHITECTURES)
def test_small_profile_shrinks_with_the_architecture_rule(arch: str) -> None:
    exp = EXPERIMENTS[compared_experiment(arch)]
    assert arch in SHRINK
    assert scaled_model(exp) == model_config(arch)  # full size: the official preset
    small = scaled_model(exp, 4, 2)
    assert small["architecture"] == arch and small != model_config(arch)
    model = build_model(small)
    assert sum(p.numel() for p in model.parameters()) < 2_000_000


def test_official_recipe_replaces_the_optimiser_and_at_full_scale_the_length(small) -> None:
    official = {**copy.deepcopy(small), "compared_recipe": "official"}
    cfg = resolve_dict("restormer_aio", official)
    recipe = OFFICIAL_RECIPES["restormer"]
    assert cfg["optim"]["lr"] == recipe.optim["optim.lr"] == 3e-4
    assert cfg["optim"]["betas"] == [0.9, 0.999]
    assert cfg["schedule"]["steps"] == small["settings"]["schedule"]["steps"]  # small: kept
    paper = {**official, "model_scale": {"width_divisor": 1, "block_divisor": 1}}
    paper["experiments"] = {}
    full = resolve_dict("promptir_aio", paper)
    assert full["schedule"] == {"steps": None, "epochs": 120}
    assert full["data"]["crop"] == 128 and full["optim"]["lr"] == 2e-4
    # Stage-1 overrides are not applied under the official recipe; DeMoE's are untouched.
    assert resolve_dict("baseline_aio", official) == resolve_dict("baseline_aio", small)
    assert set(OFFICIAL_RECIPES) == set(COMPARED_ARCHITECTURES)
    assert all(r.source and r.not_applied for r in OFFICIAL_RECIPES.values())


def test_unknown_recipe_is_refused(small) -> None:
    with pytest.raises(ConfigError, match="train.compared_recipe"):
        resolve_dict("fftformer_aio", {**small, "compared_recipe": "fast"})


def test_competitors_flag_decides_what_is_trained() -> None:
    off = planned_compared({"competitors": False}, [])
    on = planned_compared({"competitors": True}, [])
    assert off == [] and {m.experiment for m in on} == {
        compared_experiment(a) for a in COMPARED_ARCHITECTURES
    }
    assert unplanned_experiments(off) == {m.experiment for m in on}
    assert unplanned_experiments(on) == set()


def test_test_config_trains_them_and_the_default_does_not() -> None:
    default = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    test = yaml.safe_load((REPO / "config" / "test.yaml").read_text())
    paper = yaml.safe_load((REPO / "config" / "paper.yaml").read_text())
    assert default["train"]["competitors"] is False
    assert test["train"]["competitors"] is True and paper["train"]["competitors"] is True
    # their cost joins the table when a run trains them (the default's 20-minute budget)
    assert not set(COMPARED_ARCHITECTURES) & set(default["cost"]["models"])
