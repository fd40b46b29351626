"""Checkpoint reading and writing.

Reads: ``.pth/.pt/.ckpt`` (a raw state_dict or one nested under ``params``,
``params_ema``, ``model_state_dict``, ``state_dict`` or ``model``, first found in that
order), ``.safetensors``, and a folder with ``config.json`` + ``*.safetensors`` (the
Hugging Face layout; config keys are constructor argument names). ``module.`` and
``_orig_mod.`` prefixes (DDP, torch.compile) are stripped. Pickles are opened with
``torch.load(weights_only=True)`` only: a file that needs code to unpickle is refused.

Writes (our format): a folder with ``model.safetensors`` and ``config.json``
(architecture, constructor arguments and free-form metadata), each written atomically.
"""

from __future__ import annotations

import functools
import json
import pickle
import pickletools
import re
import zipfile
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from demoe.errors import CheckpointError
from demoe.io.atomic import atomic_path, write_json
from demoe.models.experts import EXPERT_BLOCKS, make_expert
from demoe.models.fuse import fuse_by_default
from demoe.models.registry import build_model, model_to_config

NESTED_KEYS: tuple[str, ...] = ("params", "params_ema", "model_state_dict", "state_dict", "model")
PICKLE_SUFFIXES: tuple[str, ...] = (".pth", ".pt", ".ckpt")
WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "config.json"
_PREFIXES = ("module.", "_orig_mod.")

StateDict = dict[str, torch.Tensor]


def read_checkpoint(path: str | Path) -> tuple[StateDict, dict[str, Any] | None]:
    """The state_dict stored at ``path`` and its config (None when the file has none)."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"checkpoint not found: {path}")
    if path.is_dir():
        return _read_folder(path)
    if path.suffix == ".safetensors":
        sibling = path.with_name(CONFIG_FILE)
        return _read_safetensors(path), _read_config(sibling) if sibling.exists() else None
    if path.suffix in PICKLE_SUFFIXES:
        return _read_pickle(path), None
    raise CheckpointError(
        f"unsupported checkpoint {path}: expected a folder, .safetensors or one of "
        f"{', '.join(PICKLE_SUFFIXES)}"
    )


def read_state_dict(path: str | Path) -> StateDict:
    """Only the state_dict of a checkpoint (see :func:`read_checkpoint`)."""
    return read_checkpoint(path)[0]


def weight_files(folder: str | Path) -> list[Path]:
    """The ``*.safetensors`` files of a model folder, sorted; hidden files (what an
    interrupted atomic write or another tool leaves) are not weights."""
    return sorted(p for p in Path(folder).glob("*.safetensors") if not p.name.startswith("."))


def _read_folder(folder: Path) -> tuple[StateDict, dict[str, Any] | None]:
    files = weight_files(folder)
    if not files:
        raise CheckpointError(f"no *.safetensors file in checkpoint folder {folder}")
    state: StateDict = {}
    for f in files:
        state.update(_read_safetensors(f))
    config_path = folder / CONFIG_FILE
    return state, _read_config(config_path) if config_path.exists() else None


def _read_config(path: Path) -> dict[str, Any]:
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"unreadable model config {path}: {exc}") from exc
    if not isinstance(config, dict):
        raise CheckpointError(f"model config {path} is not a JSON object")
    # diffusers' ConfigMixin (the published HF layout) adds "_class_name" and friends.
    return {k: v for k, v in config.items() if k != "metadata" and not k.startswith("_")}


def _read_safetensors(path: Path) -> StateDict:
    try:
        return _strip_prefixes(load_file(str(path)))
    except (SafetensorError, OSError) as exc:
        raise CheckpointError(f"unreadable safetensors file {path}: {exc}") from exc


def _read_pickle(path: Path) -> StateDict:
    _check_pickle_header(path)
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        # Random bytes can spell a GLOBAL opcode too: only a well-formed pickle that the
        # weights-only loader refuses "needs pickled code".
        if _parses_as_pickle(path):
            raise CheckpointError(
                f"refused {path}: it needs pickled code to load, which is never executed "
                f"(weights_only=True; {_last_line(exc)}); re-save its state_dict or convert "
                "it to safetensors"
            ) from exc
        raise _damaged(path, exc) from exc
    except (RuntimeError, EOFError, OSError) as exc:
        reason = _last_line(exc) or "it ends before the data does (truncated)"
        raise CheckpointError(f"unreadable checkpoint {path}: {reason}") from exc
    except Exception as exc:  # damaged bytes: the unpickler fails with any error type
        raise _damaged(path, exc) from exc
    return _strip_prefixes(_unwrap(obj, path))


def _damaged(path: Path, exc: BaseException) -> CheckpointError:
    reason = _last_line(exc) or type(exc).__name__
    return CheckpointError(f"not a checkpoint: {path} is a damaged or foreign pickle ({reason})")


#: ``torch.save`` writes a zip archive; older files (and ``pickle.dump``) a pickle,
#: which starts with the PROTO opcode.
_PICKLE_MAGIC: tuple[bytes, ...] = (b"PK\x03\x04", b"\x80")


def _check_pickle_header(path: Path) -> None:
    """CheckpointError for a file that cannot be a torch checkpoint at all."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(4)
    except OSError as exc:
        raise CheckpointError(f"unreadable checkpoint {path}: {exc}") from exc
    if not head:
        raise CheckpointError(f"not a checkpoint: {path} is empty (0 bytes)")
    if not head.startswith(_PICKLE_MAGIC):
        raise CheckpointError(
            f"not a checkpoint: {path} is neither a torch.save zip archive nor a pickle "
            f"(it starts with {head!r})"
        )


def _parses_as_pickle(path: Path) -> bool:
    """True if ``path`` holds a well-formed pickle (read opcode by opcode with
    :func:`pickletools.genops`, nothing is executed): the plain pickle of an old-style file,
    or the ``data.pkl`` of a ``torch.save`` zip archive. Then the weights-only loader refused
    its content, rather than random or damaged bytes."""
    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as archive:
                name = next(n for n in archive.namelist() if n.endswith("data.pkl"))
                with archive.open(name) as fh:
                    for _ in pickletools.genops(fh):
                        pass
            return True
        with open(path, "rb") as fh:
            for _ in pickletools.genops(fh):
                pass
    except Exception:  # genops raises ValueError, EOFError, UnicodeError… on bad bytes
        return False
    return True


def _last_line(exc: BaseException) -> str:
    """The informative line of torch's multi-paragraph load errors."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    specific = [line for line in lines if "GLOBAL" in line or "Unsupported" in line]
    return (specific or lines or [""])[-1][:300]


def _unwrap(obj: Any, path: Path) -> StateDict:
    if isinstance(obj, dict) and obj and all(isinstance(v, torch.Tensor) for v in obj.values()):
        return obj
    if isinstance(obj, dict):
        for key in NESTED_KEYS:
            if key in obj:
                return _unwrap(obj[key], path)
    found = sorted(obj)[:8] if isinstance(obj, dict) else type(obj).__name__
    raise CheckpointError(
        f"no state_dict in {path}: expected tensors or one of {', '.join(NESTED_KEYS)}, "
        f"found {found}"
    )


def _strip_prefixes(state: StateDict) -> StateDict:
    out = {}
    for key, value in state.items():
        for prefix in _PREFIXES:
            while key.startswith(prefix):
                key = key[len(prefix) :]
        out[key] = value
    return out


def infer_config(state: StateDict) -> dict[str, Any]:
    """Rebuild constructor arguments from a state_dict's keys and shapes.

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
    CheckpointError naming missing keys, unexpected keys and shape conflicts.
    Inference (eval mode, no parameter gradients) takes the fused fast path by default
    (:func:`demoe.models.fuse.fuse_by_default`); training mode stays eager.
    """
    state, stored = read_checkpoint(path)
    inferred = infer_config(state)
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
    """Write ``model`` as ``path/model.safetensors`` + ``path/config.json``, atomically.

    ``metadata`` (training config, git commit, metrics…) goes into config.json under
    "metadata" and, flattened to strings, into the safetensors header.
    """
    folder = Path(path)
    folder.mkdir(parents=True, exist_ok=True)
    config = model_to_config(model)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    header = {"format": "demoe", "config": json.dumps(config)}
    header.update({k: json.dumps(v) for k, v in (metadata or {}).items()})
    with atomic_path(folder / WEIGHTS_FILE) as tmp:
        save_file(state, str(tmp), metadata=header)
    write_json(folder / CONFIG_FILE, {**config, "metadata": metadata or {}})
    return folder
