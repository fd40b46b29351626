"""Controls of the similarity study (Figs. 2/7/9): seed-control experiments and the
``train.per_dataset_init`` option (shared or independent initialisation)."""

from __future__ import annotations

import pytest

from demoe.errors import ConfigError
from demoe.tasks import AIO_BLUR, DATASETS
from demoe.train.experiments import (
    EXPERIMENTS,
    SEED_CONTROL_OFFSET,
    SEED_CONTROL_SUFFIX,
    experiment_seed,
)


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
