"""Table 4 balancing and the Fig. 10 MSE-bin rule on known values."""

from __future__ import annotations

import numpy as np
import pytest

from demoe.data.balance import (
    PAPER_FINAL,
    PAPER_ORIGINAL,
    mse_bin_select,
    mse_bins,
    pair_mse,
    plan_balance,
    repeat_indices,
    scaled_target,
)
from demoe.errors import ConfigError


def test_paper_sizes_give_table4_exactly():
    plans = plan_balance(dict(PAPER_ORIGINAL), PAPER_FINAL, PAPER_ORIGINAL, "scale")
    assert {n: (p.target, p.action) for n, p in plans.items()} == {
        "realblur_j": (3758, "keep"),
        "reloblur": (4018, "repeat"),
        "gopro": (4206, "repeat"),
        "dpdd": (3850, "repeat"),
        "lolblur": (4200, "mse_bins"),
    }


def test_scaled_down_sizes_scale_proportionally():
    counts = {"realblur_j": 37, "reloblur": 20, "gopro": 21, "dpdd": 3, "lolblur": 102}
    plans = plan_balance(counts, PAPER_FINAL, PAPER_ORIGINAL, "scale")
    assert {n: p.target for n, p in plans.items()} == {
        "realblur_j": 37,
        "reloblur": 40,  # 20 * 4018 / 2010 = 39.98
        "gopro": 42,
        "dpdd": 33,  # x11
        "lolblur": 42,  # 102 * 4200 / 10200
    }
    assert scaled_target(0, 350, 3850) == 0
    assert scaled_target(1, 10200, 4200) == 1


def test_absolute_mode_and_untargeted_dataset():
    plans = plan_balance({"dpdd": 350, "mine": 9}, PAPER_FINAL, PAPER_ORIGINAL, "absolute")
    assert plans["dpdd"].target == 3850 and plans["mine"].action == "keep"
    with pytest.raises(ConfigError, match="mode"):
        plan_balance({"dpdd": 1}, PAPER_FINAL, PAPER_ORIGINAL, "ratio")


def test_repeat_indices_cycle_to_target():
    assert repeat_indices(3, 8).tolist() == [0, 1, 2, 0, 1, 2, 0, 1]
    assert len(repeat_indices(2010, 4018)) == 4018
    assert np.bincount(repeat_indices(350, 3850)).tolist() == [11] * 350


def test_pair_mse_known_value():
    a = np.zeros((2, 2, 3), np.float32)
    b = np.full((2, 2, 3), 0.5, np.float32)
    assert pair_mse(a, b) == pytest.approx(0.25)


def test_mse_bins_equal_width_and_max_in_last_bin():
    edges, bin_of = mse_bins(np.array([0.0, 0.1, 0.25, 0.5, 0.74, 0.76, 1.0]), 4)
    assert np.allclose(edges, [0.0, 0.25, 0.5, 0.75, 1.0])
    assert bin_of.tolist() == [0, 0, 1, 2, 2, 3, 3]


def test_mse_rule_drops_last_bin_and_draws_quota():
    # bins over [0, 4): 10 values per bin at known positions.
    mse = np.concatenate([np.linspace(b + 0.05, b + 0.95, 10) for b in range(4)])
    mse = np.append(mse, [0.0, 4.0])  # pin the range to [0, 4]
    sel = mse_bin_select(mse, target=12, n_bins=4, drop_last=1, seed=0)
    assert sel.edges == [0.0, 1.0, 2.0, 3.0, 4.0]
    assert sel.counts == [11, 10, 10, 11]
    assert sel.kept_bins == [0, 1, 2] and sel.quota == [4, 4, 4] and sel.drawn == [4, 4, 4]
    assert len(sel.indices) == 12 and len(set(sel.indices.tolist())) == 12
    assert np.bincount(sel.bin_of[sel.indices], minlength=4).tolist() == [4, 4, 4, 0]
    assert mse[sel.indices].max() < 3.0


def test_mse_rule_is_seeded():
    mse = np.random.default_rng(1).uniform(size=200)
    a = mse_bin_select(mse, 30, seed=5).indices
    assert np.array_equal(a, mse_bin_select(mse, 30, seed=5).indices)
    assert not np.array_equal(a, mse_bin_select(mse, 30, seed=6).indices)


def test_mse_rule_records_shortfall_and_remainder():
    mse = np.array([0.0, 0.1, 0.9, 1.0, 1.5, 2.0, 2.1, 3.9, 4.0])  # bins of width 1
    sel = mse_bin_select(mse, target=8, n_bins=4, drop_last=1)
    assert sel.counts == [3, 2, 2, 2]
    assert sel.quota == [3, 3, 2]  # 8 = 3 + 3 + 2: the remainder goes to the lowest bins
    assert sel.drawn == [3, 2, 2] and sel.shortfall == 1
    assert sel.summary()["shortfall"] == 1
    with pytest.raises(ConfigError):
        mse_bin_select(mse, 4, n_bins=4, drop_last=4)


def test_paper_lolblur_rule_gives_1400_per_bin():
    mse = np.random.default_rng(0).uniform(0, 1, 10200)
    sel = mse_bin_select(mse, 4200)
    assert sel.drawn == [1400, 1400, 1400] and len(sel.indices) == 4200
