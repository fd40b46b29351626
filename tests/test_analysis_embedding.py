"""CLIP features (random-init and local-file weights) and seeded t-SNE."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from demoe.analysis.embedding import clip_features, load_clip, tsne_2d
from demoe.errors import DataError, DemoeError

MODEL = "ViT-S-32"  # the fastest open_clip architecture to build and run on CPU


@pytest.fixture(scope="module")
def clip():
    torch.manual_seed(0)
    return load_clip(MODEL, None, allow_random=True)


@pytest.fixture(scope="module")
def image_paths(tmp_path_factory):
    root = tmp_path_factory.mktemp("imgs")
    rng = np.random.default_rng(0)
    paths = []
    for i in range(3):
        path = root / f"img{i}.png"
        Image.fromarray(rng.integers(0, 256, (40 + 8 * i, 50, 3), dtype=np.uint8)).save(path)
        paths.append(path)
    return paths


def test_weights_must_be_local_or_explicitly_random(tmp_path) -> None:
    with pytest.raises(DemoeError, match="allow_random"):
        load_clip(MODEL, None)
    with pytest.raises(
        DemoeError, match="CLIP weights not found at .*missing.pt; set analysis.clip.pretrained"
    ):
        load_clip(MODEL, tmp_path / "missing.pt")
    with pytest.raises(DemoeError, match="unknown open_clip model"):
        load_clip("no-such-model", None, allow_random=True)


def test_features_are_unit_norm_and_ordered(clip, image_paths) -> None:
    model, preprocess = clip
    feats = clip_features(model, preprocess, image_paths, batch_size=2)
    assert feats.shape == (3, 384) and feats.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(feats, axis=1), 1.0, atol=1e-5)
    single = clip_features(model, preprocess, image_paths[2:], batch_size=1)
    np.testing.assert_allclose(single[0], feats[2], atol=1e-5)
    assert not np.allclose(feats[0], feats[1])


def test_local_checkpoint_is_loaded(clip, image_paths, tmp_path) -> None:
    model, preprocess = clip
    torch.save(model.state_dict(), tmp_path / "clip.pt")
    loaded, _ = load_clip(MODEL, tmp_path / "clip.pt")
    np.testing.assert_allclose(
        clip_features(loaded, preprocess, image_paths[:1]),
        clip_features(model, preprocess, image_paths[:1]),
        atol=1e-6,
    )


def test_unreadable_image(clip, tmp_path) -> None:
    (tmp_path / "bad.png").write_bytes(b"nope")
    with pytest.raises(DataError, match="cannot read image"):
        clip_features(*clip, [tmp_path / "bad.png"])


def test_tsne_is_seeded_and_clips_perplexity() -> None:
    feats = np.random.default_rng(0).standard_normal((12, 16)).astype(np.float32)
    first, second = tsne_2d(feats, seed=3), tsne_2d(feats, seed=3)
    assert first.shape == (12, 2)
    np.testing.assert_array_equal(first, second)  # perplexity 30 > 12 samples: clipped
    assert np.isfinite(first).all()
    assert len({tuple(np.round(p, 6)) for p in first}) == 12
    with pytest.raises(DataError):
        tsne_2d(feats[:1])
