"""Synthetic generators, kernels and the embedded default tree."""

from __future__ import annotations

import json

import numpy as np
import pytest

from demoe.data.build import build_aioblur, resolve_roots
from demoe.data.synthetic.camera import linear_to_srgb, srgb_to_linear
from demoe.data.synthetic.generators import GENERATORS, camera_path
from demoe.data.synthetic.kernels import (
    aperture_kernel,
    convolve,
    linear_kernel,
    trajectory_kernel,
)
from demoe.data.synthetic.sources import SceneStyle, dead_leaves
from demoe.data.synthetic.writer import (
    MARKER,
    RECIPES,
    SCALES,
    SCENES,
    generate,
    synth_aioblur,
)
from demoe.errors import DataError
from demoe.tasks import BENCHMARK, DATASETS, TASKS


@pytest.mark.parametrize(
    "kernel",
    [
        trajectory_kernel(np.random.default_rng(0), 12.0),
        linear_kernel(9.0, 0.7),
        aperture_kernel(4.0),
        aperture_kernel(5.0, blades=6, rotation=0.3),
        aperture_kernel(0.2),
    ],
)
def test_kernels_are_normalised_odd_and_nonnegative(kernel):
    assert kernel.sum() == pytest.approx(1.0, abs=1e-5)
    assert kernel.min() >= 0 and kernel.shape[0] % 2 == 1 and kernel.shape[0] == kernel.shape[1]


def test_kernel_shapes_follow_their_parameters():
    assert aperture_kernel(4.0).shape == (9, 9)
    disk = aperture_kernel(4.0)
    assert disk[4, 4] > 0 and disk[0, 0] == 0  # corners lie outside the disk
    horizontal = linear_kernel(8.0, 0.0)
    assert np.count_nonzero(horizontal.sum(axis=1)) <= 2  # all mass on ~one row


def test_convolve_preserves_mean_and_size():
    img = np.random.default_rng(0).uniform(size=(20, 30, 3)).astype(np.float32)
    out = convolve(img, aperture_kernel(3.0))
    assert out.shape == img.shape
    assert out.mean() == pytest.approx(img.mean(), abs=0.02)
    assert out.std() < img.std()
    delta = np.ones((1, 1), np.float32)
    assert np.allclose(convolve(img, delta), img, atol=1e-5)


def test_srgb_roundtrip():
    x = np.linspace(0, 1, 101, dtype=np.float32)
    assert np.allclose(linear_to_srgb(srgb_to_linear(x)), x, atol=1e-5)
    assert srgb_to_linear(np.array([0.5]))[0] == pytest.approx(0.214, abs=1e-3)


def test_dead_leaves_shape_range_and_seed():
    a = dead_leaves(np.random.default_rng(3), 40, 50)
    assert a.shape == (40, 50, 3) and a.dtype == np.float32
    assert a.min() >= 0 and a.max() <= 1 and a.std() > 0.05
    assert np.array_equal(a, dead_leaves(np.random.default_rng(3), 40, 50))


def test_camera_path_middle_frame_is_identity():
    path = camera_path(np.random.default_rng(0), 9, 5.0, 0.02, 0.02)
    assert path.shape == (9, 4)
    assert np.allclose(path[4], [0, 0, 0, 1])


@pytest.mark.parametrize("name", sorted(GENERATORS))
def test_generators_labels_shapes_seeds(name):
    fn, task = GENERATORS[name]
    assert task in TASKS
    pair = fn(np.random.default_rng(7), 48, 64)
    assert pair.task == task
    assert pair.blurry.shape == pair.sharp.shape == (48, 64, 3)
    assert pair.blurry.dtype == np.float32
    assert pair.blurry.min() >= 0 and pair.blurry.max() <= 1
    assert np.mean((pair.blurry - pair.sharp) ** 2) > 1e-4  # it is blurred
    if pair.kernel is not None:
        assert pair.kernel.sum() == pytest.approx(1.0, abs=1e-5)
    again = fn(np.random.default_rng(7), 48, 64)
    assert np.array_equal(pair.blurry, again.blurry) and np.array_equal(pair.sharp, again.sharp)
    other = fn(np.random.default_rng(8), 48, 64)
    assert not np.array_equal(pair.blurry, other.blurry)


def test_local_motion_mask_covers_the_object_only():
    pair = GENERATORS["local_motion"][0](np.random.default_rng(1), 64, 64)
    assert pair.mask.shape == (64, 64) and set(np.unique(pair.mask)) <= {0.0, 1.0}
    assert 0.02 < pair.mask.mean() < 0.8
    outside = pair.mask == 0
    # Background is sharp up to noise: much closer to the target than inside the mask.
    err = np.abs(pair.blurry - pair.sharp).mean(axis=2)
    assert err[outside].mean() < err[~outside].mean()


def test_scene_styles_set_palette_and_leaf_size():
    rng = np.random.default_rng
    green = SceneStyle(hue=(0.25, 0.4), saturation=(0.8, 1.0), value=(0.8, 1.0))
    img = dead_leaves(rng(1), 64, 64, style=green)
    r, g, b = img.reshape(-1, 3).mean(0)
    assert g > r + 0.2 and g > b + 0.2
    flat_big = SceneStyle(r_min_div=8, r_max_div=2, kinds=(1.0, 0.0, 0.0))
    flat_small = SceneStyle(r_min_div=60, r_max_div=20, kinds=(1.0, 0.0, 0.0))
    # Larger flat leaves: fewer edges, so neighbouring pixels differ less often.
    edges = [
        np.mean(np.abs(np.diff(dead_leaves(rng(2), 96, 96, style=s), axis=1)).sum(-1) > 0)
        for s in (flat_big, flat_small)
    ]
    assert edges[0] < edges[1] / 2
    assert set(SCENES) == set(RECIPES)
    assert SCENES["realdof"] == SCENES["dpdd"]  # RealDOF looks like DPDD (the router copes)
    assert SCENES["rsblur"] != SCENES["realblur_j"]  # RSBlur does not (the router fails)


def test_low_light_is_darker_than_its_target():
    pair = GENERATORS["low_light"][0](np.random.default_rng(2), 48, 48)
    assert pair.blurry.mean() < 0.7 * pair.sharp.mean()


def test_recipes_match_dataset_tasks():
    assert set(RECIPES) == set(BENCHMARK)  # LOLv2-real (Fig. 8): demoe.data.synthetic.lolv2
    for name, (gen, _) in RECIPES.items():
        assert GENERATORS[gen][1] == DATASETS[name].task
    pair = generate("realdof", "test", 0, (32, 32), seed=0)
    assert pair.task == "defocus"


def test_synth_tiny_tree_builds_with_the_real_adapters(tmp_path):
    summary = synth_aioblur(tmp_path / "syn", scale="tiny", seed=1)
    assert json.loads((tmp_path / "syn" / MARKER).read_text()) == summary
    gopro = tmp_path / "syn" / "GOPRO_Large" / "train"
    assert len(list(gopro.glob("*/blur/*.png"))) == SCALES["tiny"].counts["gopro"]["train"]
    assert (tmp_path / "syn" / "RealBlur" / "RealBlur_J_train_list.txt").is_file()
    assert any((tmp_path / "syn" / "ReLoBlur" / "train" / "mask").iterdir())
    report = build_aioblur(resolve_roots(tmp_path / "syn"), tmp_path / "out")
    assert report["problems"]["total"] == 0
    found = {n: e["splits"]["test"]["found"] for n, e in report["datasets"].items()}
    assert found["real_lolblur"] == 2 and found["rsblur"] == 2
    assert report["datasets"]["real_lolblur"]["splits"]["test"]["excluded"] == 1
    lol = report["datasets"]["lolblur"]["balance"]
    assert lol["original"] == 12 and lol["action"] == "mse_bins"
    # Regenerating with the same seed reproduces the files byte for byte.
    first = (gopro / "GOPR0000_00" / "blur" / "000000.png").read_bytes()
    synth_aioblur(tmp_path / "syn", scale="tiny", seed=1)
    assert (gopro / "GOPR0000_00" / "blur" / "000000.png").read_bytes() == first


def test_synth_refuses_to_overwrite_real_data(tmp_path):
    (tmp_path / "GOPRO_Large").mkdir()
    with pytest.raises(DataError, match="refusing"):
        synth_aioblur(tmp_path, scale="tiny")
    with pytest.raises(ValueError, match="scale"):
        synth_aioblur(tmp_path / "x", scale="huge")
