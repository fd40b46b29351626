"""Bootstrap intervals: known answers (demoe.analysis.intervals)."""

from __future__ import annotations

import numpy as np
import pytest

from demoe.analysis.claims import FAILS, HOLDS, INCONCLUSIVE, verdict
from demoe.analysis.intervals import (
    Estimate,
    IntervalSettings,
    Observations,
    estimate,
    mean_over_strata,
    pooled_mean,
)
from demoe.errors import ConfigError

RNG = np.random.default_rng(7)
IMAGES = {
    ("images", "a", tuple(range(6))): RNG.normal(20, 2, (1, 6)),
    ("images", "b", tuple(range(9))): RNG.normal(25, 2, (1, 9)),
}


def model(shift: float = 0.0, noise: float = 0.0, seeds: int = 1) -> Observations:
    rng = np.random.default_rng(int(shift * 100) + seeds)
    strata = {
        k: np.vstack([v + shift + rng.normal(0, noise, v.shape) for _ in range(seeds)])
        for k, v in IMAGES.items()
    }
    return Observations(strata, mean_over_strata, seeds=True)


def diff(values):
    return values[0] - values[1]


def test_identical_models_differ_by_zero_and_are_inconclusive() -> None:
    interval = estimate([model(), model()], diff)
    assert interval.low <= 0 <= interval.high
    assert verdict(">", 0.0, interval) == INCONCLUSIVE
    assert verdict("<", 0.0, interval) == INCONCLUSIVE


def test_a_constant_shift_is_exact() -> None:
    interval = estimate([model(1.0), model()], diff)
    assert interval.value == pytest.approx(1.0)
    assert interval.low == pytest.approx(1.0) and interval.high == pytest.approx(1.0)


def test_a_mean_has_an_interval_around_it() -> None:
    interval = estimate([model()])
    assert interval.low < interval.value < interval.high


def test_the_resample_keeps_each_dataset_size() -> None:
    """Stratum a all 0, stratum b all 1: the unweighted mean over strata is 0.5 in every
    resample only if each stratum is resampled within itself; the pooled mean is the
    size-weighted 9/15 in every resample."""
    strata = {("s", "a"): np.zeros((1, 6)), ("s", "b"): np.ones((1, 9))}
    assert estimate([Observations(strata, mean_over_strata)]) == Estimate(0.5, 0.5, 0.5)
    pooled = estimate(
        [Observations(strata, pooled_mean({k: v.shape[1] for k, v in strata.items()}))]
    )
    assert (pooled.value, pooled.low, pooled.high) == pytest.approx((0.6, 0.6, 0.6))


def test_seeded_intervals_repeat_and_the_seed_matters() -> None:
    parts = [model(0.3, noise=1.0), model(noise=1.0)]
    first, again = estimate(parts, diff), estimate(parts, diff)
    assert first == again
    other = estimate(parts, diff, IntervalSettings(seed=1))
    assert (other.low, other.high) != (first.low, first.high)


def test_disagreeing_seeds_widen_the_interval() -> None:
    one = estimate([model(0.5, noise=0.0, seeds=1), model()], diff)
    three = estimate([model(0.5, noise=1.0, seeds=3), model()], diff)
    assert three.high - three.low > one.high - one.low + 0.1


def test_exact_numbers_have_no_width() -> None:
    exact = Observations({("exact", "params"): np.array([[20.15]])}, mean_over_strata)
    assert estimate([exact]) == Estimate.exact(20.15)


@pytest.mark.parametrize(
    ("compare", "threshold", "low", "high", "expected"),
    [
        (">", 0.0, 0.1, 0.3, HOLDS),
        (">", 0.0, -0.1, 0.3, INCONCLUSIVE),
        (">", 0.0, -0.3, -0.1, FAILS),
        (">=", 0.0, 0.0, 0.3, INCONCLUSIVE),  # the threshold is inside: never "holds"
        ("<", 1.1, 0.9, 1.05, HOLDS),
        ("<=", 1.1, 0.9, 1.2, INCONCLUSIVE),
        ("<", 1.1, 1.2, 1.3, FAILS),
    ],
)
def test_three_way_verdicts(compare, threshold, low, high, expected) -> None:
    assert verdict(compare, threshold, Estimate((low + high) / 2, low, high)) == expected


def test_straddling_intervals_never_hold() -> None:
    rng = np.random.default_rng(0)
    for _ in range(200):
        low, high = np.sort(rng.normal(0, 1, 2))
        threshold = rng.uniform(low, high)
        for compare in (">", ">=", "<", "<="):
            assert verdict(compare, threshold, Estimate(low, low, high)) == INCONCLUSIVE


@pytest.mark.parametrize("bad", [{"confidence": 1.5}, {"resamples": 10}, {"method": "bca"}])
def test_bad_settings_name_the_key(bad) -> None:
    with pytest.raises(ConfigError, match="analysis.intervals"):
        IntervalSettings.from_config({"analysis": {"intervals": bad}})
