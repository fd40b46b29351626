"""No-reference networks through pyiqa (IQA-PyTorch): MUSIQ and NRQM from local files.

The paper's Table 9 (Real-LOLBlur) takes NIQE, MUSIQ and NRQM from LEDNet's evaluation,
which computes them with pyiqa; Table 2 reports the same columns. pyiqa is therefore the
implementation here (NIQE: :mod:`demoe.eval.niqe`), each metric built by
``pyiqa.create_metric`` with pyiqa's own options. pyiqa downloads weights when no path is
given; this module always gives one, from the config:

* ``eval.musiq_weights``: the state_dict of pyiqa's ``musiq`` metric, MUSIQ trained on
  KonIQ-10k (``musiq_koniq_ckpt-e95806b9.pth``, one output: the MOS). Read with
  ``torch.load(..., weights_only=True)`` (pyiqa itself unpickles arbitrary objects); a
  ``params`` wrapper and a ``module.`` prefix are accepted, and a 10-class head (the AVA
  checkpoint) is detected from the file. Input: RGB in [0, 1], pyiqa's default
  multi-scale patches (longer side 224 and 384 plus the full resolution).
* ``eval.nrqm_weights``: pyiqa's ``NRQM_model.mat`` (MATLAB struct ``model`` with the
  linear regression and the three random forests of Ma et al., CVIU 2017), read by pyiqa
  with ``scipy.io.loadmat``. Input: the Y channel (YIQ, 0-255) of the RGB image.

A missing path or file is :class:`MetricUnavailable` naming the config key; the embedded
default then reports "n/a (reason)", and ``config/paper.yaml`` refuses to build the DAG
(:func:`demoe.eval.registry.check_required_files`). pyiqa is imported on first use (it takes seconds).
"""

from __future__ import annotations

import functools
import importlib
import os
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import torch
from scipy.io.matlab import MatReadError

from demoe.errors import CheckpointError, ConfigError
from demoe.eval.common import Image, MetricUnavailable, as_batch, read_local_weights

Scorer = Callable[[Image], float]

#: Config key (under ``eval``) of each no-reference metric's local file.
FILE_KEYS: dict[str, str] = {
    "niqe": "niqe_params",
    "musiq": "musiq_weights",
    "nrqm": "nrqm_weights",
}
#: What ``scipy.io.loadmat`` (and reading its content) raises for a file that is no model.
MAT_READ_ERRORS = (OSError, ValueError, KeyError, NotImplementedError, MatReadError)
#: What each file is, for the messages.
FILE_HINTS: dict[str, str] = {
    "niqe": "the NIQE pristine parameters, e.g. the authors' modelparameters.mat",
    "musiq": "pyiqa's MUSIQ KonIQ-10k state_dict, musiq_koniq_ckpt-e95806b9.pth",
    "nrqm": "pyiqa's NRQM_model.mat",
}


def required_file(
    metric: str, path: str | os.PathLike | None, key: str | None = None, hint: str | None = None
) -> Path:
    """The resolved local file of ``metric``; MetricUnavailable naming its config key
    (``key``, by default the built-in one of :data:`FILE_KEYS`) and what the file is
    (``hint``) when it is absent."""
    key = key or FILE_KEYS[metric]
    if path is None or str(path) == "":
        raise MetricUnavailable(
            f"{metric.upper()} needs a local file: set eval.{key} ({hint or FILE_HINTS[metric]})"
        )
    resolved = Path(path).expanduser().resolve()
    if not resolved.is_file():
        raise MetricUnavailable(f"{metric.upper()}: eval.{key} names no file: {resolved}")
    return resolved


def pyiqa_module(name: str) -> ModuleType:
    """``pyiqa.<name>``, imported on first use; ConfigError saying how to install pyiqa."""
    try:
        return importlib.import_module(f"pyiqa.{name}")
    except ModuleNotFoundError as err:
        if err.name is None or not err.name.startswith("pyiqa"):
            raise
        raise ConfigError(
            "pyiqa is not installed: pip install --no-deps -r requirements/nodeps.txt"
        ) from err


def pyiqa_input(image: Image) -> torch.Tensor:
    """A single image as the float32 batch (1, C, H, W) in [0, 1] that pyiqa expects."""
    return as_batch(image).clamp(0, 1).float()


def load_musiq(path: str | os.PathLike | None) -> Scorer:
    """MUSIQ ``f(image) -> MOS`` (higher is better) from ``eval.musiq_weights``."""
    return _musiq_cached(required_file("musiq", path))


def load_nrqm(path: str | os.PathLike | None) -> Scorer:
    """NRQM ``f(image) -> score`` (higher is better) from ``eval.nrqm_weights``."""
    return _nrqm_cached(required_file("nrqm", path))


@functools.lru_cache(maxsize=2)
def _musiq_cached(path: Path) -> Scorer:
    state = _read_state_dict(path)
    head = state.get("head.weight", state.get("head.0.weight"))
    if head is None:
        raise CheckpointError(f"{path}: not a MUSIQ state_dict (no head.weight / head.0.weight)")
    # pyiqa's registry builds the network; pretrained=False: nothing downloaded, and the
    # weights go in from our weights_only read (pyiqa's own loader unpickles objects).
    metric = _create_metric("musiq", pretrained=False, num_class=int(head.shape[0]))
    try:
        metric.net.load_state_dict(state, strict=True)
    except RuntimeError as err:
        raise CheckpointError(f"{path} does not fit pyiqa's MUSIQ: {err}") from err
    return _scorer(metric)


@functools.lru_cache(maxsize=2)
def _nrqm_cached(path: Path) -> Scorer:
    try:  # pyiqa reads the .mat with scipy.io.loadmat (no pickles)
        metric = _create_metric("nrqm", pretrained_model_path=str(path))
    except (*MAT_READ_ERRORS, IndexError, TypeError) as err:
        raise CheckpointError(f"cannot read NRQM parameters {path}: {err}") from err
    return _scorer(metric)


def _create_metric(name: str, **options: object) -> torch.nn.Module:
    """``pyiqa.create_metric(name, device="cpu", **options)``: the metric as pyiqa's
    registry configures it (its default options, then ``options``)."""
    pyiqa = pyiqa_module("api_helpers")
    return pyiqa.create_metric(name, device=torch.device("cpu"), **options)


def _scorer(metric: torch.nn.Module) -> Scorer:
    def score(image: Image) -> float:
        with torch.inference_mode():
            return float(metric(pyiqa_input(image)).reshape(-1)[0])

    return score


def _read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    state = read_local_weights(path, wrapper="params")
    return {k.removeprefix("module."): v for k, v in state.items()}
