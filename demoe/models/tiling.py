"""Tiled inference: images of any size within a memory budget.

The image is cut into overlapping tiles; each tile is restored on its own and the
outputs are blended with weights that ramp linearly across the middle half of every
overlap (the quarter next to a tile's border, where zero padding leaks in, is left to
the neighbour), so the seams vanish. Activations scale with the tile, not the image: peak memory is the
output accumulator plus one tile's forward.

Choices (the paper runs whole images; these are ours):

* **Routing.** DeMoE's router (Sec. 3.2) must see the whole image: per-tile routing
  could pick different experts for neighbouring tiles. The router runs once on the
  whole image when it fits the budget, otherwise on an area-downscaled copy that does;
  its top-1 expert is then forced on every tile, which for a k=1 model (the paper's
  DeMoE) is exactly what the router's choice does (top-1 weights renormalise to 1).
  Models routing to more than one expert (``k_used > 1``) are refused.
* **Channel statistics.** NAFNet's simplified channel attention pools each feature
  map globally, so a tile sees its own statistics, as under TLC (Chu et al., 2022),
  which replaces the global pool by a local window of 1.5× the training crop. With TLC
  on, tiles reproduce whole-image inference once a quarter of the overlap exceeds the
  reach of the convolutions' border effects (measured: 48 px on a 4-level DeMoE; the
  tests check 1e-3); without TLC, tiles use tile-wide statistics (measured deviation
  ~3e-3 on the random-weight conformance model). TLC applies
  per tile as it is; a TLC window larger than the tile is refused with a message.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from demoe.models.demoe import DeMoE
from demoe.models.layers import ChannelPool
from demoe.tasks import TASKS

#: Peak activation memory of an eval-mode forward, bytes per input pixel per unit of
#: model width (fp32, CPU, fused path): measured 48 on the paper-size DeMoE (width 32) at
#: 1024×768 (benchmarks/bench_tiling.py, benchmarks/README.md), with a third of headroom.
BYTES_PER_PIXEL_PER_WIDTH = 64.0
#: Smallest tile a memory budget may ask for.
MIN_TILE = 64
#: Weight of the pixels next to a tile's inner border (kept > 0: no 0/0 anywhere).
_FLOOR = 1e-6
#: Called as ``on_tile(done, total)``: with 0 before the first tile, then after each tile.
TileProgress = Callable[[int, int], None]


@dataclass(frozen=True)
class Tiling:
    """Tile side and overlap in pixels (the overlap is blended)."""

    tile: int = 1024
    overlap: int = 192

    def __post_init__(self) -> None:
        if self.tile < 16:
            raise ValueError(f"tile must be at least 16 px, got {self.tile}")
        if not 0 <= self.overlap < self.tile:
            raise ValueError(f"overlap must be in [0, tile), got {self.overlap}")


def estimated_bytes(model: nn.Module, height: int, width: int) -> float:
    """Rough peak memory of a whole-image forward (see :data:`BYTES_PER_PIXEL_PER_WIDTH`)."""
    intro = getattr(model, "intro", None)  # NAFNet/DeMoE: its out_channels is the width
    channels = intro.out_channels if isinstance(intro, nn.Conv2d) else 32
    return BYTES_PER_PIXEL_PER_WIDTH * channels * height * width


def fits(model: nn.Module, height: int, width: int, budget_bytes: float) -> bool:
    """True when a whole-image forward of ``height`` × ``width`` fits ``budget_bytes``."""
    return estimated_bytes(model, height, width) <= budget_bytes


def tiling_for_budget(model: nn.Module, budget_bytes: float, overlap: int = 192) -> Tiling:
    """The largest square tile (multiple of 16) whose forward fits ``budget_bytes``; the
    overlap shrinks to half the tile when the budget allows no more."""
    per_pixel = estimated_bytes(model, 1, 1)
    side = int(math.sqrt(budget_bytes / per_pixel)) // 16 * 16
    if side < MIN_TILE:
        raise ValueError(
            f"memory budget {budget_bytes / 2**20:.1f} MiB is too small: tiles would be "
            f"{side} px (at least {MIN_TILE} px)"
        )
    return Tiling(side, min(overlap, side // 2))


def tile_starts(length: int, tile: int, overlap: int) -> list[int]:
    """Start offsets covering ``length`` with tiles of ``tile`` overlapping by ``overlap``."""
    if length <= tile:
        return [0]
    stride = tile - overlap
    starts = list(range(0, length - tile, stride))
    return [*starts, length - tile]


def _edge_weights(overlap: int) -> torch.Tensor:
    """Weights from a tile's inner edge outwards across one overlap: ~0 on the quarter
    next to the edge (where the tile's border effects live), a linear ramp over the
    middle half, 1 on the last quarter. The neighbour's weights mirror these, so each
    pixel of the blend comes from tile content at least ``overlap / 4`` px from a border."""
    quarter = overlap // 4
    ramp = torch.arange(1, overlap - 2 * quarter + 1, dtype=torch.float32)
    ramp = ramp / (overlap - 2 * quarter + 1)
    return torch.cat(
        [torch.full((quarter,), _FLOOR), ramp, torch.ones(overlap - quarter - ramp.numel())]
    )


def _ramp(size: int, start: int, length: int, overlap: int) -> torch.Tensor:
    """Blending weights along one axis of a tile: :func:`_edge_weights` on every side
    that borders another tile, 1 elsewhere (strictly positive everywhere)."""
    w = torch.ones(size)
    if overlap == 0:
        return w
    edge = _edge_weights(overlap)[:size]
    n = edge.numel()
    if start > 0:
        w[:n] = edge
    if start + size < length:
        w[size - n :] = torch.minimum(w[size - n :], edge.flip(0))
    return w


def check_tlc_fits(model: nn.Module, tiling: Tiling) -> None:
    """Refuse TLC windows larger than a tile (they cannot apply per tile)."""
    for name, module in model.named_modules():
        if isinstance(module, ChannelPool) and module.kernel is not None:
            stride = _stride_of(model, name)
            window = max(module.kernel) * stride
            if window > tiling.tile:
                raise ValueError(
                    f"TLC window {window} px (at {name}) is larger than the {tiling.tile} px "
                    "tile: raise the tile size (or the memory budget) or run without TLC"
                )


def _stride_of(model: nn.Module, pool_name: str) -> int:
    strides = getattr(model, "block_strides", None)
    if strides is None:
        return 1
    for name, _block, stride in strides():
        if pool_name.startswith(f"{name}."):
            return stride
    return 1


def route_once(model: DeMoE, x: torch.Tensor, max_pixels: int) -> torch.Tensor:
    """Router logits for ``x`` (B, C, H, W): on the whole image when it has at most
    ``max_pixels`` pixels, else on an area-downscaled copy that has."""
    h, w = x.shape[-2:]
    if h * w > max_pixels:
        scale = math.sqrt(max_pixels / (h * w))
        size = (max(16, int(h * scale)), max(16, int(w * scale)))
        x = F.interpolate(x, size=size, mode="area")
    feats, _ = model.encode(model.prepare(x))
    return model.mlp_branch(feats)


def tiled_forward(
    model: nn.Module,
    x: torch.Tensor,
    tiling: Tiling,
    task: str = "auto",
    route_pixels: int | None = None,
    on_tile: TileProgress | None = None,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Restore ``x`` (B, C, H, W) tile by tile; returns (output, router logits or None).

    ``task``: "auto" routes once (see the module docstring), or a task selects that
    expert on every tile. ``route_pixels``: most pixels the router sees (default: one
    tile's). ``on_tile``: progress (:data:`TileProgress`). Run it under
    ``torch.inference_mode()``; the output is on ``x``'s device.
    """
    check_tlc_fits(model, tiling)
    logits = None
    kwargs = {}
    if isinstance(model, DeMoE):
        if task == "auto":
            if model.k_used != 1:
                raise ValueError(
                    f"tiled inference forces one expert per image; this model mixes "
                    f"k_used={model.k_used} experts"
                )
            if x.shape[0] != 1:
                raise ValueError("tiled inference with the router takes one image at a time")
            logits = route_once(model, x, route_pixels or tiling.tile**2)
            task = TASKS[int(logits[0].argmax())]
        kwargs["task"] = task
    b, c, h, w = x.shape
    out = torch.zeros_like(x, dtype=torch.float32)
    total = torch.zeros((1, 1, h, w), dtype=torch.float32, device=x.device)
    corners = [
        (top, left)
        for top in tile_starts(h, tiling.tile, tiling.overlap)
        for left in tile_starts(w, tiling.tile, tiling.overlap)
    ]
    for done, (top, left) in enumerate(corners):
        if on_tile is not None:
            on_tile(done, len(corners))
        th, tw = min(tiling.tile, h), min(tiling.tile, w)
        patch = x[..., top : top + th, left : left + tw]
        restored = model(patch, **kwargs).float()
        weight = torch.outer(
            _ramp(th, top, h, tiling.overlap), _ramp(tw, left, w, tiling.overlap)
        ).to(x.device)
        out[..., top : top + th, left : left + tw] += restored * weight
        total[..., top : top + th, left : left + tw] += weight
    if on_tile is not None:
        on_tile(len(corners), len(corners))
    return out / total, logits


def available_memory(device: torch.device) -> float:
    """Default memory budget in bytes: 80 % of the free GPU memory, or half of the
    available RAM on CPU."""
    if device.type == "cuda":
        free, _total = torch.cuda.mem_get_info(device)
        return 0.8 * free
    return 0.5 * os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


def infer(
    model: nn.Module,
    x: torch.Tensor,
    task: str = "auto",
    tiling: Tiling | None = None,
    budget_bytes: float | None = None,
    on_tile: TileProgress | None = None,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Restore ``x`` (B, C, H, W): whole when it fits ``budget_bytes`` (default
    :func:`available_memory`), else tiled (``on_tile``: per-tile progress of each image);
    ``tiling`` forces tiling with that tile. Returns (output, router logits or None);
    call under ``torch.inference_mode()``."""
    if tiling is None:
        budget = budget_bytes if budget_bytes is not None else available_memory(x.device)
        if fits(model, x.shape[0] * x.shape[-2], x.shape[-1], budget):
            if isinstance(model, DeMoE):
                out = model(x, task=task, return_aux=True)
                return out.output, out.logits
            return model(x), None
        tiling = tiling_for_budget(model, budget)
    outputs = [
        tiled_forward(model, x[i : i + 1], tiling, task, on_tile=on_tile) for i in range(x.shape[0])
    ]
    logits = [lg for _, lg in outputs if lg is not None]
    return torch.cat([o for o, _ in outputs]), torch.cat(logits) if logits else None
