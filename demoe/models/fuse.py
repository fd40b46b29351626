"""An inference-only fast path: the same function, fewer passes over memory.

In eval mode each NAFBlock's affine pieces fold into its neighbouring 1×1 convs:
LayerNorm1's scale/shift into ``conv1``, ``beta`` into ``conv3``, LayerNorm2's into
``conv4`` and ``gamma`` into ``conv5``. The normalisation itself runs as one fused
``layer_norm`` over the channel axis, which is contiguous in channels_last memory.
Outputs equal the unfused model's up to float rounding (checked in tests to 1e-4).

:func:`fuse_by_default` makes this the default of a loaded model (``demoe.load_model``):
an eval-mode forward that records no parameter gradient runs a fused copy, built lazily
and rebuilt whenever the parameters, their device or dtype, or the TLC windows change;
training mode (and eval mode with parameter gradients) stays the eager path.
"""

from __future__ import annotations

import copy
import types
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from demoe.models.layers import ChannelPool, NAFBlock

_CACHE = "_demoe_fused_cache"


def _fold_input_affine(conv: nn.Conv2d, scale: torch.Tensor, shift: torch.Tensor) -> nn.Conv2d:
    """conv(scale * x + shift) as one 1×1 conv."""
    w = conv.weight.detach()
    fused = nn.Conv2d(conv.in_channels, conv.out_channels, 1)
    fused.weight.data = w * scale.view(1, -1, 1, 1)
    fused.bias.data = conv.bias.detach() + (w[:, :, 0, 0] @ shift)
    return fused


def _fold_output_scale(conv: nn.Conv2d, scale: torch.Tensor) -> nn.Conv2d:
    """scale * conv(x) as one 1×1 conv."""
    s = scale.detach().view(-1)
    fused = nn.Conv2d(conv.in_channels, conv.out_channels, 1)
    fused.weight.data = conv.weight.detach() * s.view(-1, 1, 1, 1)
    fused.bias.data = conv.bias.detach() * s
    return fused


def channel_norm(x: torch.Tensor, eps: float) -> torch.Tensor:
    """Normalise over channels without affine (LayerNorm2d's statistics)."""
    return F.layer_norm(x.permute(0, 2, 3, 1), (x.shape[1],), eps=eps).permute(0, 3, 1, 2)


class FusedNAFBlock(nn.Module):
    """A NAFBlock with its affine parameters folded into convolutions (eval only)."""

    def __init__(self, block: NAFBlock) -> None:
        super().__init__()
        self.eps1, self.eps2 = block.norm1.eps, block.norm2.eps
        self.conv1 = _fold_input_affine(
            block.conv1, block.norm1.weight.detach(), block.norm1.bias.detach()
        )
        self.conv2 = copy.deepcopy(block.conv2)
        self.sca = copy.deepcopy(block.sca)
        self.conv3 = _fold_output_scale(block.conv3, block.beta)
        self.conv4 = _fold_input_affine(
            block.conv4, block.norm2.weight.detach(), block.norm2.bias.detach()
        )
        self.conv5 = _fold_output_scale(block.conv5, block.gamma)

    def forward(self, inp: torch.Tensor) -> torch.Tensor:
        a, b = self.conv2(self.conv1(channel_norm(inp, self.eps1))).chunk(2, dim=1)
        x = a * b
        y = inp + self.conv3(x * self.sca(x))
        a, b = self.conv4(channel_norm(y, self.eps2)).chunk(2, dim=1)
        return y + self.conv5(a * b)


def fuse_for_inference(model: nn.Module, channels_last: bool = True) -> nn.Module:
    """A fused eval-mode copy of ``model`` (the original is untouched).

    Call it with inputs in the same memory format (``x.to(memory_format=torch.channels_last)``)
    and under ``torch.inference_mode()`` for the full benefit.
    """
    fused = copy.deepcopy(model).eval()
    _without_default(fused)
    for parent in list(fused.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, NAFBlock):
                setattr(parent, name, FusedNAFBlock(child))
    for p in fused.parameters():
        p.requires_grad_(False)
    if channels_last:
        to_channels_last(fused)
    return fused


def to_channels_last(module: nn.Module) -> nn.Module:
    """``module`` with its 4-D parameters and buffers in channels_last memory, in place.

    ``module.to(memory_format=torch.channels_last)`` refuses any module holding a tensor of
    another rank (PromptIR's 5-D prompts); the layout only matters for the convolutions'
    4-D weights anyway."""
    for tensor in (*module.parameters(), *module.buffers()):
        if tensor.dim() == 4:
            tensor.data = tensor.data.contiguous(memory_format=torch.channels_last)
    return module


def _without_default(model: nn.Module) -> None:
    """Drop the fused-by-default dispatch (and its cache) from a (copied) model."""
    model.__dict__.pop("forward", None)
    model.__dict__.pop(_CACHE, None)


def _state_key(model: nn.Module) -> tuple:
    """What a fused copy depends on: every tensor's storage and in-place version, and the
    TLC windows (``ChannelPool.kernel``), so optimiser steps, ``load_state_dict``,
    ``.to()`` and ``apply_tlc`` all invalidate it."""
    tensors = (*model.parameters(), *model.buffers())
    key = tuple((t.data_ptr(), t._version, t.dtype, t.device) for t in tensors)
    kernels = tuple(m.kernel for m in model.modules() if isinstance(m, ChannelPool))
    return key, kernels


def _records_parameter_grads(model: nn.Module) -> bool:
    return torch.is_grad_enabled() and any(p.requires_grad for p in model.parameters())


def fused_copy(model: nn.Module) -> nn.Module:
    """The cached fused copy of ``model`` (see :func:`fuse_by_default`), rebuilt if stale."""
    key = _state_key(model)
    cached = model.__dict__.get(_CACHE)
    if cached is None or cached[0] != key:
        model.__dict__.pop(_CACHE, None)  # never copied into the new fused copy
        with torch.no_grad():
            fused = fuse_for_inference(model)
        model.__dict__[_CACHE] = (key, fused)
        return fused
    return cached[1]


def _dispatch(self: nn.Module, x: torch.Tensor, *args: Any, **kwargs: Any) -> Any:
    eager = type(self).forward
    if self.training or _records_parameter_grads(self):
        return eager(self, x, *args, **kwargs)
    return fused_copy(self)(x.contiguous(memory_format=torch.channels_last), *args, **kwargs)


def fuse_by_default(model: nn.Module) -> nn.Module:
    """Make eval-mode inference of ``model`` (in place) take the fused path.

    Each forward checks: in training mode, or in eval mode while autograd records
    parameter gradients (grad enabled and parameters requiring it), the eager forward
    runs unchanged; otherwise (``torch.no_grad``/``inference_mode``, or frozen
    parameters) the cached fused channels_last copy runs. Returns ``model``.
    """
    model.forward = types.MethodType(_dispatch, model)
    return model
