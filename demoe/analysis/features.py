"""Encoder bottleneck features of NAFNet/DeMoE models (paper App. F, Fig. 13).

The feature of an image is the global average pool of ``model.encode(x)[0]``, the
output of the last downsampling conv: what DeMoE's router reads (Sec. 3.2). Fig. 13
maps these features with t-SNE directly; the paper's "CLIP and t-SNE in cascade" is read
as in ``analysis/fig13_encoder_tsne.py`` (CLIP embeds images, not feature maps).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from demoe.data.images import read_image
from demoe.errors import DataError
from demoe.io.checkpoint import read_checkpoint
from demoe.models.checkpoint import infer_config
from demoe.models.registry import build_model

#: Distance of the silhouettes of encoder features (Fig. 13): euclidean. The pooled
#: features are not normalised and their magnitude is part of what the network reads
#: (the router's 1×1 conv, BatchNorm and MLP are not scale-invariant, Sec. 3.2); the
#: t-SNE map of the figure is built from euclidean distances too, so the score measures
#: the geometry the map draws.
ENCODER_METRIC = "euclidean"


def random_init_model(path: str | os.PathLike, seed: int = 0) -> nn.Module:
    """The architecture of the checkpoint at ``path`` with fresh random weights (eval mode).

    The config is the one stored with the checkpoint, else inferred from its shapes
    (as :func:`demoe.models.checkpoint.load_model` does); the weights come from ``seed``.
    """
    state, stored = read_checkpoint(Path(path))
    torch.manual_seed(seed)
    return build_model({**infer_config(state), **(stored or {})}).eval()


def encoder_features(
    model: nn.Module, image_paths: Sequence[str | os.PathLike], device: str = "cpu"
) -> np.ndarray:
    """(N, C) float32 global-average-pooled bottleneck features, in ``image_paths`` order.

    Images are fed one at a time at full size (zero-padded as in the forward pass).
    """
    if not image_paths:
        raise DataError("encoder_features needs at least one image")
    model = model.eval().to(device)
    rows = []
    with torch.inference_mode():
        for path in tqdm(image_paths, desc="encoder features", unit="img"):
            x = torch.from_numpy(read_image(path))[None].to(device)
            feats, _ = model.encode(model.prepare(x))
            rows.append(feats.float().mean(dim=(2, 3))[0].cpu().numpy())
    return np.stack(rows).astype(np.float32)
