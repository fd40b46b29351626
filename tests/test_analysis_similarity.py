"""Weight similarity: Pearson per filter, CKA properties, layer types, state-dict comparison."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.stats import ortho_group

from demoe.analysis.similarity import (
    LAYER_TYPES,
    block_position,
    cka_per_filter,
    compare_state_dicts,
    expert_pair_scores,
    expert_similarity,
    layer_type,
    linear_cka,
    pearson_per_filter,
    random_filter_baseline,
    rbf_cka,
)
from demoe.errors import CheckpointError, ConfigError
from demoe.models.demoe import DeMoE
from demoe.tasks import TASKS


def test_pearson_matches_corrcoef_per_filter() -> None:
    rng = np.random.default_rng(0)
    a = rng.standard_normal((6, 4, 3, 3))
    b = 0.5 * a + rng.standard_normal(a.shape)
    expected = [np.corrcoef(a[f].ravel(), b[f].ravel())[0, 1] for f in range(6)]
    np.testing.assert_allclose(pearson_per_filter(a, b), expected, rtol=1e-12)
    np.testing.assert_allclose(
        pearson_per_filter(torch.from_numpy(a), torch.from_numpy(b)), expected
    )


def test_constant_filters_are_nan_and_counted() -> None:
    rng = np.random.default_rng(1)
    a, b = rng.standard_normal((4, 5)), rng.standard_normal((4, 5))
    a[2] = 0.3
    r = pearson_per_filter(a, b)
    assert np.isnan(r[2]) and np.isfinite(r[[0, 1, 3]]).all()
    with pytest.warns(UserWarning, match="1 constant filters"):
        table = compare_state_dicts({"conv1.weight": a}, {"conv1.weight": b})
    row = table.iloc[0]
    assert row.n_filters == 4 and row.n_undefined == 1
    assert row.score == pytest.approx(np.mean(r[[0, 1, 3]]))


def test_cka_identity_orthogonal_and_scale_invariance() -> None:
    rng = np.random.default_rng(2)
    x = rng.standard_normal((20, 7))
    q = ortho_group.rvs(7, random_state=3)
    y = rng.standard_normal((20, 7))
    assert linear_cka(x, x) == pytest.approx(1.0)
    assert rbf_cka(x, x) == pytest.approx(1.0)
    base = linear_cka(x, y)
    assert 0 < base < 1
    assert linear_cka(x @ q, y) == pytest.approx(base)
    assert linear_cka(3.7 * x, y) == pytest.approx(base)
    rbf = rbf_cka(x, y)
    assert rbf_cka(x @ q, y) == pytest.approx(rbf)
    assert rbf_cka(3.7 * x, y) == pytest.approx(rbf)  # bandwidth follows the median distance
    assert linear_cka(x + 5.0, y) == pytest.approx(base)  # column means are centred away


def test_linear_cka_hand_computed_4x3() -> None:
    x = np.array([[1, 0, 2], [0, 1, 1], [2, 1, 0], [1, 2, 1]], float)
    y = np.array([[0, 1, 1], [1, 0, 0], [1, 1, 2], [3, 0, 1]], float)
    # By hand, with column-centred X, Y (feature-space form of linear CKA):
    #   Xc = [[0,-1,1],[-1,0,0],[1,0,-1],[0,1,0]]           X'X = [[2,0,-1],[0,2,-1],[-1,-1,2]]
    #   Yc = [[-5/4,1/2,0],[-1/4,-1/2,-1],[-1/4,1/2,1],[7/4,-1/2,0]]
    #   Y'X = [[0,3,-1],[1,-1,0],[2,0,-1]]                  ||Y'X||_F^2 = 17
    #   ||X'X||_F = 4,  Y'Y = [[19/4,-3/2,0],[-3/2,1,1],[0,1,2]], ||Y'Y||_F = sqrt(545)/4
    #   CKA = ||Y'X||_F^2 / (||X'X||_F ||Y'Y||_F) = 17 / sqrt(545)
    assert linear_cka(x, y) == pytest.approx(17 / np.sqrt(545), rel=1e-12)
    assert linear_cka(y, x) == pytest.approx(17 / np.sqrt(545), rel=1e-12)


def test_rbf_cka_per_filter_hand_computed() -> None:
    # Filter 0: x = (0, 1, 3), y = (0, 2, 1), one value per example (n = 3, p = 1).
    # Distances of x: 1, 3, 2 -> median 2, sigma = 0.5 * 2 = 1, K_ij = exp(-d^2 / 2);
    # distances of y: 2, 1, 1 -> median 1, sigma = 0.5, L_ij = exp(-2 d^2).
    e = np.exp
    k = np.array([[1, e(-0.5), e(-4.5)], [e(-0.5), 1, e(-2)], [e(-4.5), e(-2), 1]])
    l_ = np.array([[1, e(-8), e(-2)], [e(-8), 1, e(-2)], [e(-2), e(-2), 1]])
    h = np.eye(3) - np.ones((3, 3)) / 3  # Eq. 6: HSIC = tr(K H L H) / (n - 1)

    def hsic(p: np.ndarray, q: np.ndarray) -> float:
        return np.trace(p @ h @ q @ h) / 2

    expected = hsic(k, l_) / np.sqrt(hsic(k, k) * hsic(l_, l_))  # Eq. 5
    assert expected == pytest.approx(0.8535922776, rel=1e-9)
    # Filter 1: y = 2 x + 2 -> the bandwidth follows the scale, CKA = 1.
    a = np.array([[0.0, 1.0, 3.0], [1.0, 2.0, 3.0]])
    b = np.array([[0.0, 2.0, 1.0], [4.0, 6.0, 8.0]])
    np.testing.assert_allclose(cka_per_filter(a, b), [expected, 1.0], rtol=1e-12)
    table = compare_state_dicts({"x.conv1.weight": a}, {"x.conv1.weight": b}, "rbf_cka")
    assert table.score.iloc[0] == pytest.approx((expected + 1) / 2)  # Eq. 4: filter mean
    assert table.filter_size.iloc[0] == 3 and table.n_filters.iloc[0] == 2


def test_linear_cka_per_filter_is_squared_pearson() -> None:
    rng = np.random.default_rng(5)
    a = rng.standard_normal((6, 4, 3, 3))
    b = 0.3 * a + rng.standard_normal(a.shape)
    np.testing.assert_allclose(
        cka_per_filter(a, b, "linear"), pearson_per_filter(a, b) ** 2, rtol=1e-10
    )
    # LayerNorm-like scales: 1 plus tiny deviations (no cancellation in the centring)
    a, b = 1 + 1e-5 * a.reshape(6, -1), 1 + 1e-5 * b.reshape(6, -1)
    np.testing.assert_allclose(
        cka_per_filter(a, b, "linear"), pearson_per_filter(a, b) ** 2, rtol=1e-6
    )
    assert np.isnan(cka_per_filter(np.ones((2, 5)), b[:2, :5])).all()  # constant: no CKA


def test_random_filter_baseline() -> None:
    # Unrelated random filters: Pearson ~ 0; RBF CKA well above 0 and falling with n.
    assert abs(random_filter_baseline(9, "pearson", draws=2000)) < 0.05
    rbf = [random_filter_baseline(n, "rbf_cka") for n in (4, 9, 32)]
    assert rbf[0] > rbf[1] > rbf[2] > 0.05
    assert 0.25 < rbf[1] < 0.5
    assert np.isnan(random_filter_baseline(1))  # one value: no CKA
    rng = np.random.default_rng(7)  # a layer of random weights scores the baseline
    a, b = rng.standard_normal((2, 400, 1, 3, 3))
    layer = compare_state_dicts({"x.conv2.weight": a}, {"x.conv2.weight": b}, "rbf_cka")
    assert layer.score.iloc[0] == pytest.approx(rbf[1], abs=0.03)


def test_vector_parameters_cka_is_squared_pearson() -> None:
    rng = np.random.default_rng(4)
    a, b = rng.standard_normal(16), rng.standard_normal(16)
    r = np.corrcoef(a, b)[0, 1]
    table = compare_state_dicts({"x.norm1.weight": a}, {"x.norm1.weight": b}, measure="cka")
    assert table.score.iloc[0] == pytest.approx(r**2)
    pearson = compare_state_dicts({"x.norm1.weight": a}, {"x.norm1.weight": b})
    assert pearson.score.iloc[0] == pytest.approx(r)


@pytest.mark.parametrize(
    ("key", "kind", "position"),
    [
        ("encoders.0.modules_list.1.conv1.weight", "1x1 conv", "encoder 1 block 2"),
        ("encoders.0.1.conv3.weight", "1x1 conv", "encoder 1 block 2"),
        ("middle_blks.modules_list.0.conv2.weight", "3x3 conv", "middle block 1"),
        ("middle_blks.0.conv5.weight", "1x1 conv", "middle block 1"),
        ("decoders.2.0.norm2.weight", "LayerNorm", "decoder 3 block 1"),
        ("decoders.3.modules_list.0.sca.1.weight", "SCA", "decoder 4 block 1"),
        ("experts.2.experts.4.conv4.weight", "1x1 conv", "MoE 3 expert 5"),
        ("experts.0.experts.0.beta", None, "MoE 1 expert 1"),
        ("encoders.0.1.gamma", None, "encoder 1 block 2"),
        ("encoders.0.1.conv2.bias", "3x3 conv", "encoder 1 block 2"),
        ("intro.weight", "3x3 conv", "intro"),
        ("ending.weight", "3x3 conv", "ending"),
        ("ups.1.0.weight", "1x1 conv", "up 2"),
        ("downs.0.weight", None, "down 1"),
        ("mlp_branch.classifier.2.weight", None, "router"),
    ],
)
def test_layer_type_and_position(key: str, kind: str | None, position: str) -> None:
    assert layer_type(key) == kind
    assert block_position(key) == position


def small_demoe(seed: int) -> dict[str, torch.Tensor]:
    torch.manual_seed(seed)
    model = DeMoE(width=4, enc_blk_nums=(1, 1), dec_blk_nums=(1, 1), middle_blk_num=1)
    return model.state_dict()


def test_compare_state_dicts_identical_and_independent() -> None:
    a, b = small_demoe(0), small_demoe(1)
    with pytest.warns(UserWarning):  # freshly initialised LayerNorm scales are constant
        same = compare_state_dicts(a, a)
    convs = same[same.layer_type.isin(["1x1 conv", "3x3 conv", "SCA"])]
    assert np.allclose(convs.score, 1.0)
    assert set(same.columns) >= {"layer", "layer_type", "position", "score"}
    assert set(same.layer_type) == set(LAYER_TYPES)  # downs and router left out
    assert not any(k.startswith(("downs", "mlp_branch")) for k in same.layer)
    assert not any("modules_list" in k for k in same.layer)
    with pytest.warns(UserWarning, match="no cka score"):  # zero-initialised biases
        cka = compare_state_dicts(a, b, measure="cka", params="all")
    assert len(cka) > len(same)
    with pytest.warns(UserWarning):
        indep = compare_state_dicts(a, b, measure="pearson")
    assert indep[indep.layer_type == "1x1 conv"].score.abs().mean() < 0.3


def test_mismatched_state_dicts_raise() -> None:
    a = small_demoe(0)
    b = dict(a)
    b.pop("intro.weight")
    with pytest.raises(CheckpointError, match="intro.weight"):
        compare_state_dicts(a, b)
    c = dict(a)
    c["ending.weight"] = torch.zeros(3, 4, 5, 5)
    with pytest.raises(CheckpointError, match=r"ending.weight .*\(3, 4, 3, 3\) vs \(3, 4, 5, 5\)"):
        compare_state_dicts(a, c)


def test_expert_similarity_matrix() -> None:
    sd = small_demoe(0)
    for key in [k for k in sd if k.startswith("experts.1.experts.3.")]:
        sd[key] = sd[key.replace("experts.3.", "experts.0.")].clone()  # expert 3 copies expert 0
    matrix = expert_similarity(sd, 1)
    assert list(matrix.index) == list(TASKS) == list(matrix.columns)
    values = matrix.to_numpy()
    np.testing.assert_allclose(values, values.T)
    np.testing.assert_allclose(np.diag(values), 1.0)
    assert values[0, 3] == pytest.approx(1.0)
    assert abs(values[0, 1]) < 0.5
    with pytest.raises(CheckpointError, match="no MoE block 9"):
        expert_similarity(sd, 9)
    pairs = expert_pair_scores(sd, 1)
    assert len(pairs[["expert_a", "expert_b"]].drop_duplicates()) == 10
    copied = pairs[(pairs.expert_a == TASKS[0]) & (pairs.expert_b == TASKS[3])]
    assert set(copied.layer_type) <= set(LAYER_TYPES)
    np.testing.assert_allclose(copied.score.dropna(), 1.0)


def test_unknown_measure() -> None:
    with pytest.raises(ConfigError, match="unknown measure"):
        compare_state_dicts({"a.weight": np.ones((2, 2))}, {"a.weight": np.ones((2, 2))}, "cosine")
