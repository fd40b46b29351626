"""Models from checkpoints and back: architecture inference, loading, saving.

Reading the files (any layout, pickles refused) is :mod:`demoe.io.checkpoint`; this
module turns what is read into a NAFNet or DeMoE and writes our format: a folder with
``model.safetensors`` and ``config.json`` (architecture, constructor arguments and
free-form metadata), each written atomically.
"""

from __future__ import annotations

import functools
import json
import re
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save_file
from torch import nn

from demoe.errors import CheckpointError
from demoe.io.atomic import atomic_path, write_json
from demoe.io.checkpoint import CONFIG_FILE, WEIGHTS_FILE, StateDict, read_checkpoint
from demoe.io.checksum import sha256_of
from demoe.models.card import write_model_card
from demoe.models.experts import EXPERT_BLOCKS, make_expert
from demoe.models.fuse import fuse_by_default
from demoe.models.registry import CONFIG_INFERENCE, architectures, build_model, model_to_config
from demoe.models.user import USER_PREFIX
from demoe.paths import SHA256_KEY


def infer_config(state: StateDict) -> dict[str, Any]:
    """Rebuild constructor arguments from a state_dict's keys and shapes: a NAFNet or
    DeMoE (:func:`infer_nafnet_config`), else the one registered architecture whose key
    layout it is (:data:`demoe.models.registry.CONFIG_INFERENCE`); CheckpointError when
    none or several claim it."""
    if "intro.weight" in state:
        return infer_nafnet_config(state)
    architectures()  # registers every architecture module and its config inference
    found = {name: cfg for name, read in CONFIG_INFERENCE.items() if (cfg := read(state))}
    if len(found) == 1:
        ((name, config),) = found.items()
        return {"architecture": name, **config}
    if found:
        raise CheckpointError(
            f"the state_dict fits several architectures ({', '.join(sorted(found))}); "
            "give the architecture in a config.json beside the weights"
        )
    known = ", ".join(["nafnet", "demoe", *sorted(CONFIG_INFERENCE)])
    raise CheckpointError(
        f"the state_dict is none of the known architectures ({known}); its first keys: "
        f"{list(state)[:4]}"
    )


def infer_nafnet_config(state: StateDict) -> dict[str, Any]:
    """Rebuild a NAFNet's or DeMoE's constructor arguments from its keys and shapes.

    ``k_used`` and the MoE ``connection`` leave no trace in the weights: they default
    to 1 and "sum" (the paper's DeMoE) unless a config says otherwise. A DeMoE's
    ``expert_block`` (the NAFBlock or an App. F Table 7 block) is the one whose parameter
    names and shapes are exactly those of the first expert (:func:`expert_block_of`).
    """
    if "intro.weight" not in state:
        raise CheckpointError("not a NAFNet/DeMoE state_dict: no 'intro.weight'")
    width, img_channel = state["intro.weight"].shape[:2]
    levels = _count(state, r"downs\.(\d+)\.")
    demoe = any(k.startswith("mlp_branch.") for k in state)
    sub = r"modules_list\." if demoe else ""
    config: dict[str, Any] = {
        "architecture": "demoe" if demoe else "nafnet",
        "img_channel": int(img_channel),
        "width": int(width),
        "middle_blk_num": _count(state, rf"middle_blks\.{sub}(\d+)\."),
        "enc_blk_nums": [_count(state, rf"encoders\.{i}\.{sub}(\d+)\.") for i in range(levels)],
        "dec_blk_nums": [_count(state, rf"decoders\.{i}\.{sub}(\d+)\.") for i in range(levels)],
    }
    if demoe:
        num_exp = state["mlp_branch.classifier.6.weight"].shape[0]
        blocks = _count(state, r"experts\.(\d+)\.experts\.")
        config.update(
            num_exp=int(num_exp),
            k_used=1,
            moe_blocks_per_stage=max(blocks // (levels + 1), 1),
            block_experts=_count(state, r"experts\.0\.experts\.(\d+)\."),
            # The first MoE block follows the bottleneck: width × 2^levels channels.
            expert_block=expert_block_of(state, int(width) * 2**levels),
        )
    return config


def expert_block_of(state: StateDict, channels: int) -> str:
    """The :data:`~demoe.models.experts.EXPERT_BLOCKS` name of the experts in a DeMoE
    state_dict: the block whose parameters, built for the first MoE block's ``channels``,
    have exactly the names and shapes of ``experts.0.experts.0.*``; CheckpointError when
    no block does."""
    prefix = "experts.0.experts.0."
    found = tuple(
        sorted((k[len(prefix) :], tuple(v.shape)) for k, v in state.items() if k.startswith(prefix))
    )
    for name in EXPERT_BLOCKS:
        if _expert_layout(name, channels) == found:
            return name
    raise CheckpointError(
        f"the experts of this state_dict are none of the known blocks "
        f"({', '.join(EXPERT_BLOCKS)}) at {channels} channels; the first expert holds "
        f"{[k for k, _ in found][:6]}"
    )


@functools.lru_cache(maxsize=64)
def _expert_layout(name: str, channels: int) -> tuple[tuple[str, tuple[int, ...]], ...]:
    """Sorted (parameter name, shape) of expert block ``name`` at ``channels`` channels,
    built on the meta device (no memory, no initialisation)."""
    with torch.device("meta"):
        block = make_expert(name, channels)
    return tuple(sorted((k, tuple(v.shape)) for k, v in block.state_dict().items()))


def _count(state: StateDict, pattern: str) -> int:
    rx = re.compile(pattern)
    found = {int(m.group(1)) for k in state if (m := rx.match(k))}
    return max(found) + 1 if found else 0


def load_model(
    path: str | Path,
    device: str | torch.device = "cpu",
    config: dict[str, Any] | None = None,
    eval_mode: bool = True,
) -> nn.Module:
    """Load a NAFNet or DeMoE from any supported checkpoint (see module docstring).

    The config is, in order: ``config``, the one stored with the checkpoint, or one
    inferred from the tensor shapes. A state_dict that does not fit raises
    CheckpointError naming missing keys, unexpected keys and shape conflicts; one with a
    NaN or infinite value (:func:`check_finite`) names the tensor.
    Inference (eval mode, no parameter gradients) takes the fused fast path by default
    (:func:`demoe.models.fuse.fuse_by_default`); training mode stays eager.
    """
    state, stored = read_checkpoint(path)
    check_finite(state, source=str(path))
    wanted = (config or {}).get("architecture") or (stored or {}).get("architecture")
    # A user's class (config models:) has no key layout to read: its saved config says all.
    inferred = {} if str(wanted).startswith(USER_PREFIX) else infer_config(state)
    chosen = {**inferred, **(stored or {}), **(config or {})}
    _check_sizes(chosen, inferred, str(path))
    model = build_model(chosen)
    check_state_dict(model, state, source=str(path))
    model.load_state_dict(state, strict=True)
    model.to(device)
    fuse_by_default(model)
    return model.eval() if eval_mode else model


#: Config keys fixed by the tensor shapes and key names (see :func:`infer_config`).
SHAPE_KEYS: tuple[str, ...] = (
    "img_channel",
    "width",
    "middle_blk_num",
    "enc_blk_nums",
    "dec_blk_nums",
    "num_exp",
    "expert_block",
)


def _check_sizes(chosen: dict[str, Any], inferred: dict[str, Any], source: str) -> None:
    """Refuse a config whose sizes contradict the weights before building it, so a
    ``config.json`` claiming width 4096 is an error, not gigabytes allocated."""
    conflicts = [
        f"{k}: config {chosen[k]!r} vs weights {inferred[k]!r}"
        for k in SHAPE_KEYS
        if k in inferred and k in chosen and chosen[k] != inferred[k]
    ]
    if conflicts:
        raise CheckpointError(
            f"{source}: the config does not fit the weights: " + "; ".join(conflicts)
        )


def check_finite(state: StateDict, source: str = "checkpoint") -> None:
    """CheckpointError naming the first floating-point tensor of ``state`` that holds a
    NaN or an infinity: such weights restore every image to NaN (black once saved)."""
    for key, value in state.items():
        if (value.is_floating_point() or value.is_complex()) and not bool(
            torch.isfinite(value).all()
        ):
            bad = int((~torch.isfinite(value)).sum())
            raise CheckpointError(
                f"{source}: tensor {key!r} holds {bad} non-finite values (NaN or inf) of "
                f"{value.numel()}; these weights are damaged"
            )


def check_state_dict(model: nn.Module, state: StateDict, source: str = "checkpoint") -> None:
    """Raise one CheckpointError listing every way ``state`` does not fit ``model``."""
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    conflicts = [
        f"{k}: checkpoint {tuple(state[k].shape)} vs model {tuple(v.shape)}"
        for k, v in expected.items()
        if k in state and state[k].shape != v.shape
    ]
    problems = []
    for label, items in (("missing", missing), ("unexpected", unexpected), ("shape", conflicts)):
        if items:
            shown = "; ".join(items[:5]) + (f"; … {len(items) - 5} more" if len(items) > 5 else "")
            problems.append(f"{len(items)} {label} ({shown})")
    if problems:
        name = type(model).__name__
        raise CheckpointError(f"{source} does not fit {name}: " + " | ".join(problems))


def save_model(model: nn.Module, path: str | Path, metadata: dict[str, Any] | None = None) -> Path:
    """Write ``model`` as ``path/model.safetensors`` + ``path/config.json`` and its model
    card ``path/README.md`` (:mod:`demoe.models.card`), each atomically, the card last.

    ``metadata`` (training config, git commit, metrics…) goes into config.json under
    "metadata", flattened to strings into the safetensors header, and into the card;
    config.json records the weights' SHA-256 (:data:`demoe.paths.SHA256_KEY`), so tables
    and figures can identify them without hashing.
    """
    folder = Path(path)
    folder.mkdir(parents=True, exist_ok=True)
    config = model_to_config(model)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    header = {"format": "demoe", "config": json.dumps(config)}
    header.update({k: json.dumps(v) for k, v in (metadata or {}).items()})
    with atomic_path(folder / WEIGHTS_FILE) as tmp:
        save_file(state, str(tmp), metadata=header)
    digest = {WEIGHTS_FILE: sha256_of(folder / WEIGHTS_FILE)}
    write_json(folder / CONFIG_FILE, {**config, SHA256_KEY: digest, "metadata": metadata or {}})
    parameters = sum(p.numel() for p in model.parameters())
    write_model_card(folder, config, metadata or {}, parameters)
    return folder
