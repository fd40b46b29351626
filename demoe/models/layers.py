"""NAFNet building blocks (Chen et al., ECCV 2022), as used by DeMoE (paper Sec. 3.2, Fig. 3).

State-dict names follow the published checkpoints: ``conv1``…``conv5``, ``sca.1``,
``norm1``, ``norm2``, ``beta``, ``gamma`` inside a block, and ``modules_list.{j}``
inside a :class:`BlockSequence`.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn


class LayerNorm2d(nn.Module):
    """Layer normalisation over the channel dimension of an NCHW tensor, with affine."""

    def __init__(self, channels: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mu = x.mean(1, keepdim=True)
        var = (x - mu).pow(2).mean(1, keepdim=True)
        y = (x - mu) / (var + self.eps).sqrt()
        return self.weight.view(1, -1, 1, 1) * y + self.bias.view(1, -1, 1, 1)


class SimpleGate(nn.Module):
    """Split the channels into two halves and multiply them (NAFNet's activation)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a, b = x.chunk(2, dim=1)
        return a * b


class ChannelPool(nn.Module):
    """Average pooling of simplified channel attention.

    Global average pooling by default. Test-time local converter (TLC, Chu et al.
    2022; paper Table 6) sets ``kernel`` so that, at test time, the statistics are
    local averages over a window the size the block saw in training × 1.5,
    the output keeping the spatial size (edges replicated) as in TLC.
    """

    def __init__(self) -> None:
        super().__init__()
        self.kernel: tuple[int, int] | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        if self.kernel is None or (self.kernel[0] >= h and self.kernel[1] >= w):
            return x.mean((-2, -1), keepdim=True)
        return local_mean(x, (min(self.kernel[0], h), min(self.kernel[1], w)))


def local_mean(x: torch.Tensor, kernel: tuple[int, int]) -> torch.Tensor:
    """Mean over every ``kernel`` window (valid positions), replicate-padded back to x's size.

    Uses an integral image in float64, so the cost does not grow with the window.
    """
    kh, kw = kernel
    h, w = x.shape[-2:]
    s = x.double().cumsum(-2).cumsum(-1)
    s = F.pad(s, (1, 0, 1, 0))
    total = s[..., kh:, kw:] - s[..., :-kh, kw:] - s[..., kh:, :-kw] + s[..., :-kh, :-kw]
    out = (total / (kh * kw)).to(x.dtype)
    oh, ow = out.shape[-2:]
    pad = ((w - ow) // 2, (w - ow + 1) // 2, (h - oh) // 2, (h - oh + 1) // 2)
    return F.pad(out, pad, mode="replicate")


class NAFBlock(nn.Module):
    """Nonlinear-activation-free block: a spatial branch and a feed-forward branch.

    ``y = x + beta * conv3(SCA(SG(dwconv(conv1(LN(x))))))``;
    ``out = y + gamma * conv5(SG(conv4(LN(y))))`` with ``beta``, ``gamma`` starting at 0.
    """

    def __init__(self, c: int, dw_expand: int = 2, ffn_expand: int = 2) -> None:
        super().__init__()
        dw = c * dw_expand
        ffn = c * ffn_expand
        self.conv1 = nn.Conv2d(c, dw, 1)
        self.conv2 = nn.Conv2d(dw, dw, 3, padding=1, groups=dw)
        self.conv3 = nn.Conv2d(dw // 2, c, 1)
        self.sca = nn.Sequential(ChannelPool(), nn.Conv2d(dw // 2, dw // 2, 1))
        self.sg = SimpleGate()
        self.conv4 = nn.Conv2d(c, ffn, 1)
        self.conv5 = nn.Conv2d(ffn // 2, c, 1)
        self.norm1 = LayerNorm2d(c)
        self.norm2 = LayerNorm2d(c)
        self.beta = nn.Parameter(torch.zeros(1, c, 1, 1))
        self.gamma = nn.Parameter(torch.zeros(1, c, 1, 1))

    def forward(self, inp: torch.Tensor) -> torch.Tensor:
        x = self.sg(self.conv2(self.conv1(self.norm1(inp))))
        x = self.conv3(x * self.sca(x))
        y = inp + x * self.beta
        x = self.conv5(self.sg(self.conv4(self.norm2(y))))
        return y + x * self.gamma


class BlockSequence(nn.Module):
    """NAFBlocks applied in order; the published DeMoE names them ``modules_list.{j}``."""

    def __init__(self, channels: int, num_blocks: int) -> None:
        super().__init__()
        self.modules_list = nn.ModuleList(NAFBlock(channels) for _ in range(num_blocks))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.modules_list:
            x = block(x)
        return x


def pad_to_multiple(x: torch.Tensor, multiple: int) -> torch.Tensor:
    """Zero-pad bottom/right so height and width are multiples of ``multiple``.

    Always one ``F.pad`` (of zero rows when the size is already a multiple), never a
    branch on the size, so a graph traced with dynamic height and width serves both.
    """
    h, w = x.shape[-2:]
    ph = (multiple - h % multiple) % multiple
    pw = (multiple - w % multiple) % multiple
    return F.pad(x, (0, pw, 0, ph))


def check_image_batch(x: torch.Tensor, channels: int) -> None:
    """Raise ValueError for anything but a non-empty (B, channels, H, W) batch.

    Only shapes are read, so this runs inside ``forward`` and still traces and exports;
    the value check is :func:`check_finite`.
    """
    if not isinstance(x, torch.Tensor):
        raise ValueError(f"expected a torch.Tensor, got {type(x).__name__}")
    if x.dim() != 4:
        raise ValueError(f"expected a 4-D batch (B, C, H, W), got shape {tuple(x.shape)}")
    if x.shape[1] != channels:
        raise ValueError(f"expected {channels} channels, got {x.shape[1]} (shape {tuple(x.shape)})")
    if x.numel() == 0:
        raise ValueError(f"empty batch: shape {tuple(x.shape)}")


def check_finite(x: torch.Tensor) -> None:
    """Raise ValueError if ``x`` holds NaN or infinite values.

    The answer depends on the values, not the shapes, so a traced or exported graph
    (``torch.export``, ``torch.jit.trace``, ONNX) cannot contain it: it runs before
    ``forward``, from :func:`refuse_non_finite_input`.
    """
    if not torch.isfinite(x).all():
        raise ValueError("input contains NaN or infinite values")


def refuse_non_finite_input(
    module: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> None:
    """Forward pre-hook (``register_forward_pre_hook(..., with_kwargs=True)``): every
    eager call of the model checks its input image with :func:`check_finite`; tracing
    and export skip it (a graph cannot branch on values: whoever runs an exported graph
    checks its inputs)."""
    if torch.jit.is_tracing() or torch.compiler.is_compiling():
        return
    x = args[0] if args else next(iter(kwargs.values()), None)
    if isinstance(x, torch.Tensor) and x.is_floating_point():
        check_finite(x)
