"""CLIP image embeddings and their t-SNE map (paper Fig. 4 and Fig. 13).

CLIP weights come from a local file only; a randomly initialised model (for tests) has
to be asked for with ``allow_random=True``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import open_clip
import torch
from PIL import Image, UnidentifiedImageError
from sklearn.manifold import TSNE
from tqdm import tqdm

from demoe.errors import DataError, DemoeError

log = logging.getLogger(__name__)

Preprocess = Callable[[Image.Image], torch.Tensor]


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
