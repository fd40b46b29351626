"""MUSIQ and NRQM through pyiqa: local files only (random weights here), never a download."""

from __future__ import annotations

import importlib.metadata
import math
import re
import socket
import sys
from pathlib import Path

import numpy as np
import pytest
import scipy.io
import torch
from scipy import ndimage

from demoe.errors import CheckpointError, ConfigError
from demoe.eval.common import MetricUnavailable
from demoe.eval.iqa import load_musiq, load_nrqm, pyiqa_module
from demoe.eval.niqe import fit_niqe_model
from demoe.eval.registry import check_required_files, compute_metrics, create_metric

#: NRQM's three feature groups (pyiqa's nrqm_arch): local DCT 6 x 3 scales, global GSM 45,
#: singular values of 5 x 5 blocks 25 x 3 scales.
NRQM_FEATURES = (18, 45, 75)


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    """Any download attempt (pyiqa's or a socket) fails the test."""
    import pyiqa.utils.download_util as download_util

    def refuse(*args, **kwargs):
        raise AssertionError(f"download attempted: {args}")

    monkeypatch.setattr(download_util, "load_file_from_url", refuse)
    monkeypatch.setattr(torch.hub, "download_url_to_file", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    for module in ("niqe_arch", "nrqm_arch", "arch_util"):
        arch = pytest.importorskip(f"pyiqa.archs.{module}")
        if hasattr(arch, "load_file_from_url"):
            monkeypatch.setattr(arch, "load_file_from_url", refuse)


def image(seed: int, size: int = 128) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return ndimage.gaussian_filter(rng.random((size, size + 32, 3)), (1.5, 1.5, 0))


@pytest.fixture(scope="module")
def musiq_file(tmp_path_factory):
    """A MUSIQ KonIQ-layout state_dict with random weights, saved as pyiqa's files are."""
    from pyiqa.archs.musiq_arch import MUSIQ

    torch.manual_seed(0)
    net = MUSIQ(num_class=1, pretrained=False)
    path = tmp_path_factory.mktemp("musiq") / "musiq_koniq_ckpt.pth"
    torch.save({f"module.{k}": v for k, v in net.state_dict().items()}, path)
    return path


def random_forest(rng: np.random.Generator, n_features: int, trees: int = 40) -> dict:
    """One forest in NRQM_model.mat's layout: root split, two leaves, per tree."""
    ldau = np.tile([[2], [0], [0]], (1, trees))
    rdau = np.tile([[3], [0], [0]], (1, trees))
    return {
        "ldau": ldau.astype(np.int32),
        "rdau": rdau.astype(np.int32),
        "nodestatus": np.zeros((3, trees)),
        "nodeclass": np.zeros((3, trees)),
        "threshold": rng.uniform(-1, 3, (3, trees)),
        "pred": rng.uniform(0, 10, (3, trees)),
        "bestattri": rng.integers(1, n_features + 1, (3, trees)).astype(np.int32),
    }


@pytest.fixture(scope="module")
def nrqm_file(tmp_path_factory):
    rng = np.random.default_rng(0)
    forests = np.empty((1, 3), dtype=object)
    for i, n in enumerate(NRQM_FEATURES):
        forests[0, i] = random_forest(rng, n)
    model = {"linear": np.array([[0.5], [0.3], [0.4], [0.3]]), "rf": forests}
    path = tmp_path_factory.mktemp("nrqm") / "NRQM_model.mat"
    scipy.io.savemat(path, {"model": model})
    return path


def test_musiq_from_local_random_weights(musiq_file) -> None:
    score = load_musiq(musiq_file)
    assert create_metric("musiq", musiq_weights=musiq_file) is score  # cached per file
    first, second = score(image(0)), score(image(1))
    assert math.isfinite(first) and math.isfinite(second) and first != second


def test_musiq_bad_files(tmp_path) -> None:
    torch.save({"conv_root.weight": torch.zeros(3)}, tmp_path / "other.pth")
    with pytest.raises(CheckpointError, match="not a MUSIQ state_dict"):
        load_musiq(tmp_path / "other.pth")
    torch.save({"head.weight": torch.zeros(1, 384)}, tmp_path / "partial.pth")
    with pytest.raises(CheckpointError, match="does not fit pyiqa's MUSIQ"):
        load_musiq(tmp_path / "partial.pth")
    (tmp_path / "junk.pth").write_text("junk")
    with pytest.raises(CheckpointError, match="cannot read weights"):
        load_musiq(tmp_path / "junk.pth")


def test_nrqm_from_local_random_forests(nrqm_file) -> None:
    sharp = image(0)
    noisy = np.clip(sharp + 0.1 * np.random.default_rng(2).standard_normal(sharp.shape), 0, 1)
    values, reasons = compute_metrics(sharp, None, ("nrqm",), weights={"nrqm_weights": nrqm_file})
    second = load_nrqm(nrqm_file)(noisy)
    assert math.isfinite(values["nrqm"]) and math.isfinite(second) and not reasons
    assert values["nrqm"] != second


def test_nrqm_bad_file(tmp_path) -> None:
    scipy.io.savemat(tmp_path / "other.mat", {"something": np.zeros(3)})
    with pytest.raises(CheckpointError, match="cannot read NRQM parameters"):
        load_nrqm(tmp_path / "other.mat")


def test_missing_files_name_the_config_key(tmp_path) -> None:
    for metric, key in (("musiq", "musiq_weights"), ("nrqm", "nrqm_weights")):
        with pytest.raises(MetricUnavailable, match=f"set eval.{key}"):
            create_metric(metric)
        with pytest.raises(MetricUnavailable, match=f"eval.{key} names no file"):
            create_metric(metric, **{key: tmp_path / "absent"})
    values, reasons = compute_metrics(image(0, size=192), None, ("niqe", "musiq", "nrqm"))
    assert all(math.isnan(v) for v in values.values())
    assert set(reasons) == {"niqe", "musiq", "nrqm"}
    # With its file, NIQE is computed, still without any download.
    fit_niqe_model([image(1, size=192)]).save(tmp_path / "niqe.npz")
    niqe_value = create_metric("niqe", niqe_params=tmp_path / "niqe.npz")(image(0, size=192))
    assert math.isfinite(niqe_value)


def test_required_files_fail_the_dag_build(tmp_path, musiq_file, nrqm_file) -> None:
    cfg = {
        "require_iqa_files": True,
        "no_reference_metrics": ["niqe", "musiq", "nrqm"],
        "niqe_params": None,
        "musiq_weights": str(musiq_file),
        "nrqm_weights": str(tmp_path / "absent.mat"),
    }
    with pytest.raises(ConfigError, match=r"set eval.niqe_params.*eval.nrqm_weights names no"):
        check_required_files(cfg)
    check_required_files({**cfg, "require_iqa_files": False})
    (tmp_path / "niqe.mat").write_bytes(b"")
    check_required_files(
        {**cfg, "niqe_params": str(tmp_path / "niqe.mat"), "nrqm_weights": str(nrqm_file)}
    )


def test_pyiqa_pins_agree() -> None:
    """pyiqa is pinned in requirements/nodeps.txt and in the conda env's post-deploy script."""
    root = Path(__file__).resolve().parents[1]
    pins = [
        re.findall(r"pyiqa==[\w.]+", (root / name).read_text())
        for name in ("requirements/nodeps.txt", "workflow/envs/demoe.post-deploy.sh")
    ]
    assert pins[0] == pins[1] == [f"pyiqa=={importlib.metadata.version('pyiqa')}"]


def test_missing_pyiqa_is_a_one_line_error(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "pyiqa.archs.nrqm_arch", None)  # import -> ModuleNotFound
    with pytest.raises(ConfigError, match="pyiqa is not installed"):
        pyiqa_module("archs.nrqm_arch")
