"""Checkpoint files: reading weights and configs, whatever the model.

Reads: ``.pth/.pt/.ckpt`` (a raw state_dict or one nested under ``params``,
``params_ema``, ``model_state_dict``, ``state_dict`` or ``model``, first found in that
order), ``.safetensors``, and a folder with ``config.json`` + ``*.safetensors`` (the
Hugging Face layout; config keys are constructor argument names). ``module.`` and
``_orig_mod.`` prefixes (DDP, torch.compile) are stripped. Pickles are opened with
``torch.load(weights_only=True)`` only: a file that needs code to unpickle is refused.

Building a model from what is read (architecture inference, ``load_model``) and writing
our format (``save_model``) are model concerns: :mod:`demoe.models.checkpoint`.
"""

from __future__ import annotations

import json
import pickle
import pickletools
import zipfile
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file

from demoe.errors import CheckpointError

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
