"""Named model configurations (timm-style): architecture + constructor arguments.

A saved model's ``config.json`` holds ``{"architecture": ..., **constructor args}``,
so :func:`build_model` rebuilds it without importing any pickled code.
"""

from __future__ import annotations

import functools
import importlib
import pkgutil
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from demoe.errors import ConfigError
from demoe.models.demoe import DeMoE
from demoe.models.ensemble import TaskEnsemble
from demoe.models.experts import TABLE7_EXPERT_BLOCKS
from demoe.models.nafnet import NAFNet
from demoe.models.user import USER_PREFIX, user_class

#: Architecture name → class: the built-ins here, any other model through
#: :func:`register_architecture` in its own module of ``demoe/models/`` (found by
#: :func:`architectures`, which imports every module of the package once).
ARCHITECTURES: dict[str, type[nn.Module]] = {
    "demoe": DeMoE,
    "nafnet": NAFNet,
    "task_ensemble": TaskEnsemble,
}

#: Table 5 (App. F) variants of DeMoE, as constructor overrides; the block counts are the
#: ones that reproduce the paper's sizes (tests/test_models_sizes.py):
#: "original architecture" (22.07 M / 20.37 G as the router-less baseline: NAFNet's
#: (1,1,1,28) encoder, "three NAFBlocks per decoder layer" = 2 + the MoE block, and the
#: middle likewise), "more middle NAFBlocks" (38.67 M / 15.11 G: 12 instead of 2),
#: "more MoEBlocks" (32.54 M / 13.18 G: two per stage, "doubling"), width 64
#: (79.71 M / 42.77 G).
TABLE5_VARIANTS: dict[str, dict[str, Any]] = {
    "original_arch": {"middle_blk_num": 2, "enc_blk_nums": [1, 1, 1, 28]},
    "middle12": {"middle_blk_num": 12},
    "moe_blocks2": {"moe_blocks_per_stage": 2},
    "width64": {"width": 64},
}

PRESETS: dict[str, dict[str, Any]] = {
    # The paper's DeMoE (Table 1): 20.15 M parameters.
    "demoe": {"architecture": "demoe"},
    # The stage-1 "k=1 network": one NAFBlock where each MoE block goes, plus the router
    # (stage 1 of Sec. 3.4, trained with the class loss): 10.24 M.
    "demoe_baseline": {"architecture": "demoe", "block_experts": 1},
    # The paper's NAFNet baseline = that network without the router, 10.08 M (Table 1
    # "NAFNet", Table 5 baselines; see demoe.models.nafnet): the per-dataset NAFNets of
    # Sec. 3.1 (Figs. 2/7/9) and the task-specific DeMoE* of Table 3.
    "nafnet": {"architecture": "nafnet"},
    # Table 5 "Baseline w/ original architecture" without its router.
    "nafnet_original_arch": {
        "architecture": "nafnet",
        "middle_blk_num": 3,
        "enc_blk_nums": [1, 1, 1, 28],
    },
    "demoe_middle12": {"architecture": "demoe", **TABLE5_VARIANTS["middle12"]},
    "demoe_moe_blocks2": {"architecture": "demoe", **TABLE5_VARIANTS["moe_blocks2"]},
    "demoe_width64": {"architecture": "demoe", **TABLE5_VARIANTS["width64"]},
    # DeMoE-5 (Sec. 5, Fig. 6 left): the five DeMoE* as one model, 50.4 M.
    "demoe5": {"architecture": "task_ensemble"},
    # The original deblurring NAFNet (width 32, GoPro), Chen et al. 2022.
    "nafnet_original": {
        "architecture": "nafnet",
        "width": 32,
        "middle_blk_num": 1,
        "enc_blk_nums": [1, 1, 1, 28],
        "dec_blk_nums": [1, 1, 1, 1],
    },
    # App. F Table 7: DeMoE with another expert block in every MoE block.
    **{
        f"demoe_{block}": {"architecture": "demoe", "expert_block": block}
        for block in TABLE7_EXPERT_BLOCKS
    },
    # The configuration of the published-layout conformance checkpoint.
    "demoe_small": {
        "architecture": "demoe",
        "width": 8,
        "middle_blk_num": 1,
        "enc_blk_nums": [1, 1, 1, 1],
        "dec_blk_nums": [1, 1, 1, 1],
    },
}


#: A state_dict's tensors by key (what :mod:`demoe.io.checkpoint` reads).
StateDict = Mapping[str, torch.Tensor]
#: Architecture → its constructor arguments read off a state_dict with the architecture's
#: own (official) key names, or None when the keys are not that architecture's
#: (:func:`demoe.models.checkpoint.infer_config` asks each in turn).
CONFIG_INFERENCE: dict[str, Callable[[StateDict], dict[str, Any] | None]] = {}
#: Architecture → how the small training profile shrinks its full config
#: (``train.model_scale``: ``shrink(config, width_divisor, block_divisor)``); NAFNet and
#: DeMoE use the catalogue's own rule.
SHRINK: dict[str, Callable[[dict[str, Any], int, int], dict[str, Any]]] = {}


def register_architecture(
    name: str,
    presets: Mapping[str, Mapping[str, Any]] | None = None,
    infer_config: Callable[[StateDict], dict[str, Any] | None] | None = None,
    shrink: Callable[[dict[str, Any], int, int], dict[str, Any]] | None = None,
) -> Callable[[type[nn.Module]], type[nn.Module]]:
    """Class decorator: ``name`` builds the class, and each of ``presets`` (preset name →
    constructor arguments) becomes a preset of it, so a model defined in its own module of
    ``demoe/models/`` (a compared method) needs no edit here. ``infer_config`` reads the
    constructor arguments off a state_dict in the architecture's key layout (so its plain
    ``.pth`` files load), ``shrink`` scales it down for the small profile. ConfigError when
    the name or a preset is taken by another class."""

    def add(cls: type[nn.Module]) -> type[nn.Module]:
        known = ARCHITECTURES.get(name)
        if known is not None and _qualified(known) != _qualified(cls):
            raise ConfigError(f"architecture {name!r} is already {_qualified(known)}")
        for preset in presets or {}:
            if preset in PRESETS and PRESETS[preset].get("architecture") != name:
                raise ConfigError(f"model preset {preset!r} is already taken")
        ARCHITECTURES[name] = cls
        PRESETS.update({p: {"architecture": name, **kw} for p, kw in (presets or {}).items()})
        if infer_config is not None:
            CONFIG_INFERENCE[name] = infer_config
        if shrink is not None:
            SHRINK[name] = shrink
        return cls

    return add


def add_preset(name: str, config: Mapping[str, Any]) -> None:
    """Preset ``name`` = ``config`` (``{"architecture": ..., **kwargs}``), e.g. a user's
    model (config ``models:``) in a process that did not build the DAG; ConfigError when
    the name is another preset already."""
    if name in PRESETS and PRESETS[name] != dict(config):
        raise ConfigError(f"model preset {name!r} is already taken")
    PRESETS[name] = dict(config)


def _qualified(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


@functools.cache
def architectures() -> dict[str, type[nn.Module]]:
    """Every architecture: the built-ins and those registered by the modules of
    ``demoe/models/`` (each imported once, on the first call)."""
    package = Path(__file__).parent
    for module in pkgutil.iter_modules([str(package)], prefix=f"{__package__}."):
        importlib.import_module(module.name)
    return ARCHITECTURES


def _resolve_user(name: object) -> None:
    """Register architecture ``user:<module:Class>`` (config ``models:``) on first use, so
    any process rebuilds a user's model from its saved config (:mod:`demoe.models.user`)."""
    if isinstance(name, str) and name.startswith(USER_PREFIX) and name not in ARCHITECTURES:
        ARCHITECTURES[name] = user_class(name.removeprefix(USER_PREFIX))


def model_config(name: str, **overrides: Any) -> dict[str, Any]:
    """The full config of a preset (or bare architecture name) with ``overrides`` applied."""
    architectures()
    _resolve_user(name)
    if name in PRESETS:
        config = dict(PRESETS[name])
    elif name in ARCHITECTURES:
        config = {"architecture": name}
    else:
        valid = ", ".join(sorted({*PRESETS, *ARCHITECTURES}))
        raise ConfigError(f"unknown model {name!r}; valid: {valid}")
    config.update(overrides)
    return config


def build_model(config: dict[str, Any]) -> nn.Module:
    """Instantiate ``{"architecture": ..., **kwargs}``; unknown keys are a ConfigError."""
    kwargs = dict(config)
    arch = kwargs.pop("architecture", None)
    _resolve_user(arch)
    known = architectures()
    if arch not in known:
        raise ConfigError(f"unknown architecture {arch!r}; valid: {', '.join(known)}")
    try:
        return known[arch](**kwargs)
    except TypeError as exc:
        raise ConfigError(f"bad {arch} config {kwargs}: {exc}") from exc


def create_model(name: str, **overrides: Any) -> nn.Module:
    """Build a preset (see ``PRESETS``) or a bare architecture with ``overrides``."""
    return build_model(model_config(name, **overrides))


def architecture_of(model: nn.Module) -> str:
    for name, cls in architectures().items():
        if type(model) is cls:
            return name
    raise ConfigError(f"not a demoe model: {type(model).__name__}")


def model_to_config(model: nn.Module) -> dict[str, Any]:
    """The config that rebuilds ``model``'s architecture."""
    return {"architecture": architecture_of(model), **model.config}
