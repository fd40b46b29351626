"""LPIPS, AlexNet variant (Zhang et al., CVPR 2018), implemented from its definition.

    d(x, y) = sum_l mean_{h,w} || w_l * (f̂_l(x) - f̂_l(y)) ||^2

with ``f_l`` the AlexNet activations after ReLU 1…5 (64, 192, 384, 256, 256 channels),
``f̂_l`` those unit-normalised along the channels, and ``w_l`` the learned non-negative
per-channel weights (a 1×1 convolution to one channel, the "lin" layers). Images in
[0, 1] are mapped to [-1, 1] and then through the LPIPS scaling layer
``(x - shift) / scale``.

Weights are read from local files only (``torch.load(..., weights_only=True)``), passed
as arguments (config ``eval.lpips_weights`` and ``eval.alexnet_weights``, ``demoe eval
--lpips-weights`` and ``--alexnet-weights``; :mod:`demoe.eval.registry`):

* lin weights: a state_dict with keys ``lin0.model.1.weight`` … ``lin4.model.1.weight``
  of shapes (1, C_l, 1, 1), the layout of the public ``lpips`` package's
  ``weights/v0.1/alex.pth``;
* AlexNet backbone: a torchvision AlexNet state_dict (``features.{0,3,6,8,10}.weight``
  and ``.bias``; ``classifier.*`` is ignored), e.g. torchvision's
  ``alexnet-owt-7be5be79.pth``;
* or one combined file holding both sets of keys. The backbone keys may also be named
  as in the ``lpips`` package's full model (``net.slice{k}.{i}.weight``, where ``i`` is
  the index in ``features``); ``scaling_layer.*`` entries are ignored (constants).
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Mapping
from pathlib import Path

import torch
from torch import nn

from demoe.errors import CheckpointError, DataError
from demoe.eval.common import MetricUnavailable, read_local_weights

#: Config ``eval`` keys of the two weight files (named in the "unavailable" reasons).
LIN_KEY = "lpips_weights"
BACKBONE_KEY = "alexnet_weights"
CHANNELS: tuple[int, ...] = (64, 192, 384, 256, 256)
#: torchvision ``alexnet().features`` index ranges ending at ReLU 1…5.
SLICES: tuple[tuple[int, int], ...] = ((0, 2), (2, 5), (5, 8), (8, 10), (10, 12))
CONV_INDICES: tuple[int, ...] = (0, 3, 6, 8, 10)
#: LPIPS scaling layer constants (inputs in [-1, 1]).
SHIFT: tuple[float, ...] = (-0.030, -0.088, -0.188)
SCALE: tuple[float, ...] = (0.458, 0.448, 0.450)
MIN_SIZE = 31  # smallest side for which AlexNet's relu5 has at least one position


class LPIPS(nn.Module):
    """The LPIPS-Alex network; random until :meth:`load_weights` (use :func:`load_lpips`)."""

    def __init__(self) -> None:
        super().__init__()
        from torchvision.models import alexnet  # lazy: torchvision costs ~1.4 s to import

        features = alexnet(weights=None).features
        self.slices = nn.ModuleList(features[a:b] for a, b in SLICES)
        self.lins = nn.ModuleList(nn.Conv2d(c, 1, 1, bias=False) for c in CHANNELS)
        self.register_buffer("shift", torch.tensor(SHIFT).view(1, 3, 1, 1))
        self.register_buffer("scale", torch.tensor(SCALE).view(1, 3, 1, 1))
        self.eval()

    def load_weights(self, state: Mapping[str, torch.Tensor]) -> None:
        """Load a combined state (see module docstring); CheckpointError if incomplete."""
        lin_keys = {f"{k}.weight": f"lin{k}.model.1.weight" for k in range(len(CHANNELS))}
        backbone_keys = {  # slices keep torchvision's ``features`` indices
            f"{s}.{i}.{p}": f"features.{i}.{p}"
            for s, (a, b) in enumerate(SLICES)
            for i in range(a, b)
            if i in CONV_INDICES
            for p in ("weight", "bias")
        }
        missing = [src for src in (*lin_keys.values(), *backbone_keys.values()) if src not in state]
        if missing:
            raise CheckpointError(f"LPIPS weights incomplete, missing: {missing[:5]}")
        try:
            self.lins.load_state_dict({k: state[src] for k, src in lin_keys.items()})
            self.slices.load_state_dict({k: state[src] for k, src in backbone_keys.items()})
        except RuntimeError as err:
            raise CheckpointError(f"LPIPS weights do not fit AlexNet: {err}") from err

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """LPIPS distance per image (B,) between two batches (B, 3, H, W) in [0, 1]."""
        if pred.shape != target.shape:
            raise DataError(
                f"prediction and target differ in size: {tuple(pred.shape)} vs {tuple(target.shape)}"
            )
        if pred.dim() != 4 or pred.shape[1] != 3 or min(pred.shape[-2:]) < MIN_SIZE:
            raise DataError(
                f"LPIPS needs RGB batches (B, 3, H, W) with H, W >= {MIN_SIZE}, got {tuple(pred.shape)}"
            )
        x, y = self._scale(pred), self._scale(target)
        total = torch.zeros(pred.shape[0], dtype=x.dtype, device=x.device)
        for block, lin in zip(self.slices, self.lins, strict=True):
            x, y = block(x), block(y)
            diff = (_unit(x) - _unit(y)) ** 2
            total = total + lin(diff).mean((1, 2, 3))
        return total

    def _scale(self, image: torch.Tensor) -> torch.Tensor:
        image = image.to(self.shift.dtype)
        return (2 * image - 1 - self.shift) / self.scale


def _unit(feat: torch.Tensor, eps: float = 1e-10) -> torch.Tensor:
    """Normalise each spatial position's feature vector to unit length (as LPIPS does)."""
    return feat / (feat.pow(2).sum(1, keepdim=True).sqrt() + eps)


def load_lpips(
    weights: str | os.PathLike | None = None,
    backbone: str | os.PathLike | None = None,
) -> LPIPS:
    """LPIPS-Alex from the local files ``weights`` (lin layers, or both sets of keys) and
    ``backbone`` (AlexNet; see module doc).

    MetricUnavailable naming the config key when a file is not given or does not exist;
    CheckpointError when a file exists but is not a usable state_dict. Cached per paths.
    """
    lin_path = _local_file(weights)
    if lin_path is None:
        raise MetricUnavailable(
            f"LPIPS needs local weights: set eval.{LIN_KEY} (lpips alex.pth) and "
            f"eval.{BACKBONE_KEY} (torchvision AlexNet state_dict)"
        )
    return _load_cached(lin_path, _local_file(backbone))


@functools.lru_cache(maxsize=2)
def _load_cached(lin_path: Path, backbone_path: Path | None) -> LPIPS:
    state = _read_state(lin_path)
    if not any(k.startswith("features.") for k in state):
        if backbone_path is None:
            raise MetricUnavailable(
                f"LPIPS needs AlexNet backbone weights: set eval.{BACKBONE_KEY} to a local "
                "torchvision AlexNet state_dict"
            )
        state = {**_read_state(backbone_path), **state}
    model = LPIPS()
    model.load_weights(state)
    return model


def _local_file(path: str | os.PathLike | None) -> Path | None:
    """``path`` resolved (None when not given); MetricUnavailable when it names no file."""
    if path is None or str(path) == "":
        return None
    resolved = Path(path).expanduser().resolve()
    if not resolved.is_file():
        raise MetricUnavailable(f"LPIPS weights not found at {resolved}")
    return resolved


def _read_state(path: Path) -> dict[str, torch.Tensor]:
    """A state_dict from ``path`` with keys renamed to ``lin*`` / ``features.*``."""
    state = read_local_weights(path, "LPIPS weights")
    out: dict[str, torch.Tensor] = {}
    unknown = []
    for key, value in state.items():
        key = re.sub(r"^net\.slice\d+\.", "features.", key)
        if key.startswith(("lin", "features.")):
            out[key] = value
        elif not key.startswith(("classifier.", "scaling_layer.")):
            unknown.append(key)
    if unknown:
        raise CheckpointError(f"{path}: unexpected keys for LPIPS weights: {unknown[:5]}")
    return out
