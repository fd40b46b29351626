"""Controls of the similarity study (Figs. 2/7/9): seed-control experiments and the
``train.per_dataset_init`` option (shared or independent initialisation)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import yaml

from demoe.analysis.similarity_study import initial_state_dict
from demoe.errors import ConfigError
from demoe.experiments.catalogue import (
    EXPERIMENTS,
    SEED_CONTROL_OFFSET,
    SEED_CONTROL_SUFFIX,
    experiment_seed,
    resolve_config,
)
from demoe.tasks import AIO_BLUR, DATASETS
from demoe.train.config import write_config


def _profile(seed: int = 7, init: str | None = None) -> dict:
    profile = {"settings": {"run": {"seed": seed}}}
    return profile if init is None else {**profile, "per_dataset_init": init}


def test_every_per_dataset_nafnet_has_a_seed_control() -> None:
    for d in AIO_BLUR:
        control = EXPERIMENTS[f"nafnet_{d}{SEED_CONTROL_SUFFIX}"]
        model = EXPERIMENTS[f"nafnet_{d}"]
        assert (control.preset, control.stage, control.datasets) == (
            model.preset,
            model.stage,
            model.datasets,
        )
        assert control.seed_offset == SEED_CONTROL_OFFSET and model.seed_offset == 0


def test_shared_init_is_the_default() -> None:
    seeds = {experiment_seed(EXPERIMENTS[f"nafnet_{d}"], _profile()) for d in AIO_BLUR}
    assert seeds == {7}
    assert experiment_seed(EXPERIMENTS["nafnet_lolv2_real"], _profile()) == 7
    assert experiment_seed(EXPERIMENTS["nafnet_gopro_reseed"], _profile()) == 7 + 1000
    assert experiment_seed(EXPERIMENTS["demoe"], _profile(init="independent")) == 7


def test_independent_init_gives_every_dataset_its_own_seed() -> None:
    names = [f"nafnet_{d}" for d in (*AIO_BLUR, "lolv2_real")]
    names += [f"nafnet_{d}{SEED_CONTROL_SUFFIX}" for d in AIO_BLUR]
    seeds = [experiment_seed(EXPERIMENTS[n], _profile(init="independent")) for n in names]
    assert len(set(seeds)) == len(seeds)
    assert seeds[0] == 7 + 1 + list(DATASETS).index(AIO_BLUR[0])
    with pytest.raises(ConfigError, match="train.per_dataset_init"):
        experiment_seed(EXPERIMENTS["nafnet_dpdd"], _profile(init="random"))


def _small_profile(init: str) -> dict:
    config = yaml.safe_load(Path("config/config.yaml").read_text(encoding="utf-8"))
    return {**config["train"], "per_dataset_init": init}


def test_shared_init_seed_control_keeps_the_initial_weights_and_redraws_the_data(
    tmp_path,
) -> None:
    profile = _small_profile("shared")
    model = resolve_config("nafnet_gopro", profile, str(tmp_path))
    control = resolve_config(f"nafnet_gopro{SEED_CONTROL_SUFFIX}", profile, str(tmp_path))
    assert control.run.seed == model.run.seed + SEED_CONTROL_OFFSET  # data order, crops, flips
    assert control.run.weights_seed == model.run.weights_seed == model.run.seed
    assert model.run.init_seed is None
    for config, name in ((model, "nafnet_gopro"), (control, "control")):
        write_config(config, tmp_path / name / "resolved_config.yaml")
    initial = [
        initial_state_dict(tmp_path / n / "model.safetensors") for n in ("nafnet_gopro", "control")
    ]
    assert all(torch.equal(initial[0][k], initial[1][k]) for k in initial[0])


def test_independent_init_seed_control_draws_its_own_initial_weights(tmp_path) -> None:
    profile = _small_profile("independent")
    model = resolve_config("nafnet_gopro", profile, str(tmp_path))
    control = resolve_config(f"nafnet_gopro{SEED_CONTROL_SUFFIX}", profile, str(tmp_path))
    assert control.run.init_seed is None and model.run.init_seed is None
    assert control.run.weights_seed != model.run.weights_seed
