"""CLIP features (random-init and local-file weights), seeded t-SNE and the per-image
silhouettes of Figs. 4 and 13."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from demoe.analysis.embedding import (
    SEPARATION_COLUMNS,
    clip_features,
    load_clip,
    separation_table,
    silhouettes,
    tsne_2d,
    write_separation_csv,
)
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


def _clusters(seed: int, n_per: int = 30, spread: float = 1.0) -> tuple[np.ndarray, list[str]]:
    """Four Gaussian clusters in 16-D, centres far apart (std 4) against the spread."""
    rng = np.random.default_rng(seed)
    centres = 4 * rng.standard_normal((4, 16))
    features = np.repeat(centres, n_per, axis=0) + spread * rng.standard_normal((4 * n_per, 16))
    return features, [name for name in "abcd" for _ in range(n_per)]


@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
def test_silhouette_is_high_for_clusters_and_zero_for_shuffled_labels(metric) -> None:
    features, labels = _clusters(0)
    clustered = silhouettes(features, labels, metric)
    assert clustered.shape == (len(labels),)
    assert clustered.mean() > 0.6 and (clustered > 0).all()
    shuffled = np.random.default_rng(1).permutation(labels)
    values = silhouettes(features, list(shuffled), metric)
    assert abs(values.mean()) < 0.15
    assert (np.abs(values) <= 1).all()


def test_cosine_silhouette_ignores_the_length_of_the_features() -> None:
    """Why CLIP embeddings are scored by cosine: rescaling each feature vector leaves
    the cosine silhouettes as they were and blurs the euclidean ones."""
    features, labels = _clusters(2, n_per=20, spread=0.05)
    scaled = features * np.random.default_rng(3).uniform(0.1, 10, (len(labels), 1))
    np.testing.assert_allclose(
        silhouettes(scaled, labels, "cosine"), silhouettes(features, labels, "cosine"), atol=1e-9
    )
    assert silhouettes(scaled, labels, "euclidean").mean() < 0.6
    assert silhouettes(features, labels, "euclidean").mean() > 0.9


def test_silhouette_needs_two_datasets_and_matching_rows() -> None:
    features, labels = _clusters(0, n_per=3)
    with pytest.raises(DataError, match="2 to 11 datasets among 12 images, got 1"):
        silhouettes(features, ["a"] * 12, "euclidean")
    with pytest.raises(DataError, match="11 feature rows for 12 labels"):
        silhouettes(features[:11], labels, "euclidean")


def test_separation_table_rows_and_csv(tmp_path) -> None:
    features, labels = _clusters(4, n_per=5)
    frame = pd.DataFrame({"x": np.arange(20.0), "y": -np.arange(20.0), "dataset": labels})
    images = [f"img{i}.png" for i in range(20)]
    table = separation_table(frame, images, features, "euclidean")
    assert tuple(table.columns) == SEPARATION_COLUMNS
    assert list(table["image"]) == images and list(table["dataset"]) == labels
    np.testing.assert_allclose(table["silhouette"], silhouettes(features, labels, "euclidean"))
    write_separation_csv(table, tmp_path / "sep.csv")
    read = pd.read_csv(tmp_path / "sep.csv")
    assert list(read.columns) == list(SEPARATION_COLUMNS) and len(read) == 20
    np.testing.assert_allclose(read["silhouette"], table["silhouette"], rtol=1e-5)
    with pytest.raises(DataError, match="19 images for 20 points"):
        separation_table(frame, images[:19], features, "euclidean")
