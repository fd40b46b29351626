"""CLIP image embeddings, their t-SNE map and how well they separate the datasets (paper
Fig. 4 and Fig. 13).

CLIP weights come from a local file only; a randomly initialised model (for tests) has
to be asked for with ``allow_random=True``.

The figures draw the t-SNE map; the claims test the separation the paper reads from it
("the clear separation among datasets", Sec. 4; "trained weights produce distinct
clusters while random weights do not", App. F) with each image's silhouette in the
features themselves (:func:`silhouettes`), written per image beside the figure
(:func:`separation_table`, :func:`write_separation_csv`).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import open_clip
import pandas as pd
import torch
from PIL import Image, UnidentifiedImageError
from sklearn.manifold import TSNE
from sklearn.metrics import silhouette_samples
from tqdm import tqdm

from demoe.errors import DataError, DemoeError
from demoe.io.atomic import write_text

log = logging.getLogger(__name__)

Preprocess = Callable[[Image.Image], torch.Tensor]

#: Distance of the silhouettes of CLIP embeddings (Fig. 4): cosine. CLIP is trained to
#: compare images and texts by the cosine of their embeddings (Radford et al. 2021) and
#: :func:`clip_features` returns them L2-normalised, so only their direction carries
#: meaning; on the unit sphere the cosine distance is that comparison itself (and the
#: euclidean distance the t-SNE map is built from is sqrt(2 × cosine distance): the same
#: neighbours).
CLIP_METRIC = "cosine"

#: The per-image table beside Figs. 4 and 13, in column order (Fig. 13 puts ``model``
#: first): the image's dataset, its path as in the manifests and evaluation CSVs, its
#: point in the t-SNE map drawn and its silhouette in the features (:func:`silhouettes`).
SEPARATION_COLUMNS: tuple[str, ...] = ("dataset", "image", "x", "y", "silhouette")


def load_clip(
    model_name: str,
    pretrained_path: str | os.PathLike | None,
    *,
    allow_random: bool = False,
    device: str | torch.device = "cpu",
) -> tuple[torch.nn.Module, Preprocess]:
    """An open_clip model (eval mode) and its evaluation preprocessing.

    ``pretrained_path`` must be a local checkpoint file (read with ``weights_only=True``).
    ``None`` gives random weights only with ``allow_random=True`` (logged as a warning);
    otherwise, and for a path that does not exist, DemoeError.
    """
    if model_name not in open_clip.list_models():
        raise DemoeError(f"unknown open_clip model {model_name!r}")
    if pretrained_path is None:
        if not allow_random:
            raise DemoeError(
                "no CLIP weights given; set analysis.clip.pretrained to a local file "
                "(random weights only with allow_random=True)"
            )
        log.warning("CLIP model %s is randomly initialised (allow_random=True)", model_name)
        pretrained = None
    else:
        path = Path(pretrained_path).expanduser()
        if not path.is_file():
            raise DemoeError(
                f"CLIP weights not found at {path}; set analysis.clip.pretrained to a local file"
            )
        pretrained = str(path)
    model, _, preprocess = open_clip.create_model_and_transforms(
        model_name, pretrained=pretrained, device=device, weights_only=True
    )
    model.eval()
    return model, preprocess


def clip_features(
    model: torch.nn.Module,
    preprocess: Preprocess,
    image_paths: Sequence[str | os.PathLike],
    batch_size: int = 32,
) -> np.ndarray:
    """L2-normalised CLIP image embeddings (N, D), float32, in the order of ``image_paths``."""
    device = next(model.parameters()).device
    chunks = []
    with torch.inference_mode():
        for start in tqdm(
            range(0, len(image_paths), batch_size), desc="CLIP features", unit="batch"
        ):
            batch = torch.stack(
                [preprocess(_open_rgb(p)) for p in image_paths[start : start + batch_size]]
            )
            feats = model.encode_image(batch.to(device)).float()
            chunks.append(torch.nn.functional.normalize(feats, dim=-1).cpu().numpy())
    if not chunks:
        raise DataError("clip_features needs at least one image")
    return np.concatenate(chunks).astype(np.float32)


def _open_rgb(path: str | os.PathLike) -> Image.Image:
    try:
        with Image.open(path) as img:
            return img.convert("RGB")
    except (OSError, UnidentifiedImageError) as err:
        raise DataError(f"cannot read image {path}: {err}") from err


def tsne_2d(features: np.ndarray, seed: int = 0, perplexity: float = 30.0) -> np.ndarray:
    """2-D t-SNE (sklearn, PCA initialisation) of ``features`` (N, D), deterministic per seed.

    The perplexity is clipped to ``(N - 1) / 3`` (sklearn requires it below N, and each
    point needs about 3 × perplexity neighbours), so small sets still embed.
    """
    n = features.shape[0]
    if n < 2:
        raise DataError(f"t-SNE needs at least 2 samples, got {n}")
    tsne = TSNE(
        n_components=2,
        perplexity=min(perplexity, (n - 1) / 3),
        init="pca",
        random_state=seed,
    )
    return tsne.fit_transform(np.asarray(features, dtype=np.float32)).astype(np.float64)


def silhouettes(features: np.ndarray, labels: Sequence[str], metric: str) -> np.ndarray:
    """Each sample's silhouette (Rousseeuw 1987) with its dataset as its cluster, (N,).

    ``(b - a) / max(a, b)``, ``a`` the sample's mean ``metric`` distance to the other
    samples of its dataset, ``b`` the smallest mean distance to the samples of another
    dataset (:func:`sklearn.metrics.silhouette_samples`): in [-1, 1], near 1 when the
    datasets form tight, distant clusters, near 0 when they overlap (0 for a dataset of
    one sample). Computed in the features (N, D), not in their t-SNE map: t-SNE keeps
    neighbourhoods but not the distances between clusters, and its map changes with the
    perplexity and seed, so a score of the map would measure t-SNE as much as the
    features. DataError unless there are 2 to N - 1 datasets.
    """
    n, n_labels = len(labels), len(set(labels))
    if features.shape[0] != n:
        raise DataError(f"{features.shape[0]} feature rows for {n} labels")
    if not 2 <= n_labels <= n - 1:
        raise DataError(f"silhouettes need 2 to {n - 1} datasets among {n} images, got {n_labels}")
    return silhouette_samples(np.asarray(features, dtype=np.float64), list(labels), metric=metric)


def separation_table(
    frame: pd.DataFrame, images: Sequence[str | os.PathLike], features: np.ndarray, metric: str
) -> pd.DataFrame:
    """The t-SNE ``frame`` of ``features`` (columns x, y, dataset; one row per image, in
    the order of ``images`` and of the feature rows) with each image's path and
    :func:`silhouettes` (``metric`` distance, datasets as clusters): columns
    :data:`SEPARATION_COLUMNS`."""
    if len(images) != len(frame):
        raise DataError(f"{len(images)} images for {len(frame)} points of the t-SNE map")
    table = frame.assign(
        image=[str(p) for p in images],
        silhouette=silhouettes(features, list(frame["dataset"]), metric),
    )
    return table[list(SEPARATION_COLUMNS)]


def write_separation_csv(table: pd.DataFrame, path: str | os.PathLike) -> None:
    """Write a :func:`separation_table` (or several, with a key column) atomically."""
    write_text(path, table.to_csv(index=False, float_format="%.6g"))
