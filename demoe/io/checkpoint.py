"""Checkpoint files: reading weights and configs, whatever the model.

Reads: ``.pth/.pt/.ckpt`` (a raw state_dict or one nested under ``params``,
``params_ema``, ``model_state_dict``, ``state_dict`` or ``model``, first found in that
order), ``.safetensors``, and a folder with ``config.json`` + one ``*.safetensors`` (the
Hugging Face layout; config keys are constructor argument names), or several shards named
by a ``*.safetensors.index.json`` (its ``weight_map``: which file holds which key). A
folder with several weight files and no index is refused: which one is the model is
ambiguous. ``module.`` and ``_orig_mod.`` prefixes (DDP, torch.compile) are stripped.

Pickles are opened with ``torch.load(weights_only=True)`` only: a file that needs code to
unpickle is refused. Besides tensors and Python's plain values, numpy scalars, dtypes and
arrays load (:data:`NUMPY_SAFE_GLOBALS`: data, never code). A ``torch.save`` zip archive
whose members declare far more bytes than the file holds (a decompression bomb) is
refused before anything is decompressed.

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

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file
from torch.serialization import safe_globals

from demoe.errors import CheckpointError

NESTED_KEYS: tuple[str, ...] = ("params", "params_ema", "model_state_dict", "state_dict", "model")
PICKLE_SUFFIXES: tuple[str, ...] = (".pth", ".pt", ".ckpt")
WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "config.json"
INDEX_SUFFIX = ".safetensors.index.json"
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
    """The weight files of a model folder, sorted: those its ``*.safetensors.index.json``
    names when it has one, else every ``*.safetensors`` (more than one is refused when the
    folder is read). Hidden files (what an interrupted atomic write or another tool
    leaves) are not weights."""
    folder = Path(folder)
    index = _index_file(folder)
    if index is not None:
        return sorted({folder / name for name in _weight_map(index).values()})
    return sorted(p for p in folder.glob("*.safetensors") if not p.name.startswith("."))


def _index_file(folder: Path) -> Path | None:
    """The folder's ``*.safetensors.index.json`` (the Hugging Face sharded layout), if any."""
    found = sorted(p for p in folder.glob(f"*{INDEX_SUFFIX}") if not p.name.startswith("."))
    if len(found) > 1:
        names = ", ".join(p.name for p in found)
        raise CheckpointError(f"{folder} has several weight index files ({names}); keep one")
    return found[0] if found else None


def _weight_map(index: Path) -> dict[str, str]:
    """``weight_map`` of an index file: tensor name -> weight file name in its folder."""
    try:
        data = json.loads(index.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"unreadable weight index {index}: {exc}") from exc
    mapping = data.get("weight_map") if isinstance(data, dict) else None
    if not isinstance(mapping, dict) or not mapping:
        raise CheckpointError(f"weight index {index} has no 'weight_map' object")
    for key, name in mapping.items():
        if (
            not isinstance(name, str)
            or Path(name).name != name
            or not name.endswith(".safetensors")
        ):
            raise CheckpointError(
                f"weight index {index}: {key!r} maps to {name!r}, not a .safetensors file "
                "of the same folder"
            )
    return mapping


def _read_folder(folder: Path) -> tuple[StateDict, dict[str, Any] | None]:
    index = _index_file(folder)
    files = weight_files(folder)
    if not files:
        raise CheckpointError(f"no *.safetensors file in checkpoint folder {folder}")
    if index is not None:
        state = _read_shards(folder, index)
    elif len(files) > 1:
        raise CheckpointError(
            f"{folder} has several weight files ({', '.join(p.name for p in files)}): keep "
            f"one, or add a *{INDEX_SUFFIX} saying which file holds which tensor"
        )
    else:
        state = _read_safetensors(files[0])
    config_path = folder / CONFIG_FILE
    return state, _read_config(config_path) if config_path.exists() else None


def _read_shards(folder: Path, index: Path) -> StateDict:
    """Exactly the tensors ``index`` names, each from the file it names; a named tensor
    missing from its file, or a file holding a tensor the index gives to no file or to
    another one, is refused."""
    mapping = _weight_map(index)
    state: StateDict = {}
    for name in sorted(set(mapping.values())):
        path = folder / name
        if not path.is_file():
            raise CheckpointError(f"weight index {index} names {name}, which is missing")
        shard = _read_safetensors(path, strip=False)
        wanted = {k for k, v in mapping.items() if v == name}
        if missing := sorted(wanted - set(shard)):
            raise CheckpointError(
                f"{path} lacks {len(missing)} tensors its index assigns to it ({missing[:4]})"
            )
        if stray := sorted(set(shard) - wanted):
            raise CheckpointError(
                f"{path} holds {len(stray)} tensors its index does not assign to it "
                f"({stray[:4]}); the index {index.name} and the shards disagree"
            )
        state.update(shard)
    return _strip_prefixes(state)


def _read_config(path: Path) -> dict[str, Any]:
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"unreadable model config {path}: {exc}") from exc
    if not isinstance(config, dict):
        raise CheckpointError(f"model config {path} is not a JSON object")
    # diffusers' ConfigMixin (the published HF layout) adds "_class_name" and friends.
    return {k: v for k, v in config.items() if k != "metadata" and not k.startswith("_")}


def _read_safetensors(path: Path, strip: bool = True) -> StateDict:
    try:
        state = load_file(str(path))
    except (SafetensorError, OSError) as exc:
        raise CheckpointError(f"unreadable safetensors file {path}: {exc}") from exc
    return _strip_prefixes(state) if strip else state


def _read_pickle(path: Path) -> StateDict:
    return _strip_prefixes(_unwrap(load_torch_file(path), path))


def load_torch_file(path: str | Path) -> Any:
    """What ``torch.save`` stored at ``path``, loaded on the CPU with
    ``torch.load(weights_only=True)`` and the plain numpy types of
    :data:`NUMPY_SAFE_GLOBALS`; CheckpointError for an empty, foreign, damaged,
    truncated or bomb-like file and for one that needs pickled code."""
    path = Path(path)
    _check_pickle_header(path)
    check_zip_expansion(path)
    try:
        with safe_globals(NUMPY_SAFE_GLOBALS):
            return torch.load(path, map_location="cpu", weights_only=True)
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


def _numpy_safe_globals() -> list[Any]:
    """numpy's scalar and array reconstructors, ``numpy.dtype`` and its concrete dtype
    classes (under numpy 2's module names and numpy 1's, which older pickles spell):
    numeric data only. Everything else a pickle names (``builtins.object`` inside an
    object array, any function) is still refused by the weights-only unpickler."""
    multiarray = np._core.multiarray if hasattr(np, "_core") else np.core.multiarray
    found: list[Any] = [np.ndarray, np.dtype]
    for name in ("scalar", "_reconstruct"):
        fn = getattr(multiarray, name)
        found += [fn, (fn, f"numpy.core.multiarray.{name}")]
    found += [getattr(np.dtypes, n) for n in np.dtypes.__all__ if n != "ObjectDType"]
    return found


#: What :func:`load_torch_file` lets the weights-only unpickler build besides tensors and
#: plain Python values: numpy scalars, dtypes and arrays (training metadata such as an
#: iteration count saved as ``np.int64``).
NUMPY_SAFE_GLOBALS: list[Any] = _numpy_safe_globals()

#: A ``torch.save`` archive stores its members uncompressed; a zip whose members declare
#: more than this many times the file's own size is a decompression bomb.
MAX_EXPANSION = 20


def check_zip_expansion(path: str | Path) -> None:
    """Refuse a zip archive whose members declare far more bytes than the file holds,
    before anything is decompressed (the sizes come from the central directory)."""
    path = Path(path)
    try:
        if not zipfile.is_zipfile(path):
            return
        with zipfile.ZipFile(path) as archive:
            declared = sum(info.file_size for info in archive.infolist())
    except (zipfile.BadZipFile, OSError):
        return  # torch.load reports what is wrong with the archive
    size = path.stat().st_size
    if declared > MAX_EXPANSION * max(size, 1):
        raise CheckpointError(
            f"refused {path}: its zip members expand to {declared} bytes from {size} "
            f"(more than {MAX_EXPANSION}x; a torch.save archive is stored uncompressed)"
        )


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
