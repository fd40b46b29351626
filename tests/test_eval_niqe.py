"""NIQE: equal to the MATLAB definition, parameter files, and the fitted pristine model.

The reference is BasicSR's ``niqe.py`` (stated to reproduce the authors' MATLAB release to
4 decimals) with the MATLAB pristine parameters it ships (``niqe_pris_params.npz``), both
taken from the ``basicsr`` source distribution on PyPI by a test-only download into the
pytest cache (a temporary folder without the cache plugin); the tests that need it are
skipped, with the reason, when it cannot be had. Its half-size image is made the way
``computequality.m`` makes it: BasicSR's own ``imresize`` run in double precision (BasicSR
casts to float32) on the 0-255 grey image (BasicSR resizes it divided by 255). Both are
exact in real arithmetic, but on an image with a flat background BasicSR's rounding alone
moves its NIQE by up to 0.05, more than the tolerance.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import tarfile
import types
from pathlib import Path

import numpy as np
import pytest
import scipy.io
import torch
from scipy import ndimage
from skimage import data

from demoe.cli import main
from demoe.data.images import write_image
from demoe.data.manifest import Record, write_manifest
from demoe.errors import CheckpointError, DataError
from demoe.eval.common import MetricUnavailable
from demoe.eval.niqe import fit_niqe_model, load_niqe_model, niqe, patch_features

BASICSR = "basicsr==1.4.2"
BASICSR_FILES = {
    "metrics/niqe.py": "niqe.py",
    "metrics/niqe_pris_params.npz": "niqe_pris_params.npz",
    "utils/matlab_functions.py": "matlab_functions.py",
}


@pytest.fixture(scope="session")
def basicsr_niqe(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> types.SimpleNamespace:
    """BasicSR's NIQE function and its MATLAB pristine-parameter file (test-only download)."""
    cache = reference_folder(request.config, tmp_path_factory, "basicsr-1.4.2-niqe")
    if not all((cache / name).is_file() for name in BASICSR_FILES.values()):
        _fetch_basicsr(cache)
    # BasicSR's imresize with its two float32 casts made double, as MATLAB's is
    source = (cache / "matlab_functions.py").read_text()
    double = source.replace(".float()", ".double()").replace("FloatTensor", "DoubleTensor")
    (cache / "matlab_functions_double.py").write_text(double)
    matlab = _load_module("basicsr_matlab_functions", cache / "matlab_functions_double.py")
    registry = types.SimpleNamespace(register=lambda: lambda f: f)
    stubs = {
        "basicsr": types.ModuleType("basicsr"),
        "basicsr.metrics": types.ModuleType("basicsr.metrics"),
        "basicsr.metrics.metric_util": types.SimpleNamespace(reorder_image=None, to_y_channel=None),
        "basicsr.utils": types.ModuleType("basicsr.utils"),
        "basicsr.utils.matlab_functions": matlab,
        "basicsr.utils.registry": types.SimpleNamespace(METRIC_REGISTRY=registry),
    }
    saved = {name: sys.modules.get(name) for name in stubs}
    sys.modules.update(stubs)  # only for niqe.py's imports; restored right after
    try:
        module = _load_module("basicsr_niqe", cache / "niqe.py")
    finally:
        for name, old in saved.items():
            if old is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = old

    def matlab_imresize(img: np.ndarray, scale: float, antialiasing: bool) -> np.ndarray:
        """computequality.m's ``imresize(im, 0.5)``: of the 0-255 grey image itself (BasicSR
        resizes im / 255, whose rounding errors NIQE amplifies in flat areas), in double."""
        dtype = torch.get_default_dtype()
        torch.set_default_dtype(torch.float64)  # BasicSR's kernel weights (torch.linspace)
        try:
            return matlab.imresize(np.round(img * 255), scale, antialiasing) / 255
        finally:
            torch.set_default_dtype(dtype)

    module.imresize = matlab_imresize
    params = np.load(cache / "niqe_pris_params.npz")
    return types.SimpleNamespace(
        niqe=lambda grey: module.niqe(
            grey, params["mu_pris_param"], params["cov_pris_param"], params["gaussian_window"]
        ),
        params_path=cache / "niqe_pris_params.npz",
    )


def reference_folder(
    config: pytest.Config, tmp_path_factory: pytest.TempPathFactory, name: str
) -> Path:
    """Where a downloaded reference is kept: the pytest cache, so later sessions reuse it,
    or this session's temporary folder when the cache plugin is off (``-p no:cacheprovider``)."""
    cache = getattr(config, "cache", None)
    if cache is None:
        return tmp_path_factory.mktemp(name)
    return Path(cache.mkdir(name))


def _fetch_basicsr(cache: Path) -> None:
    command = [
        sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", "basicsr",
        "--no-build-isolation", "--quiet", BASICSR, "-d", str(cache),
    ]  # fmt: skip
    try:
        subprocess.run(command, check=True, capture_output=True, timeout=300)
    except (subprocess.SubprocessError, OSError) as err:
        pytest.skip(f"the {BASICSR} sdist (NIQE reference) cannot be downloaded: {err}")
    with tarfile.open(cache / "basicsr-1.4.2.tar.gz") as tar:
        for inner, name in BASICSR_FILES.items():
            member = tar.extractfile(f"basicsr-1.4.2/basicsr/{inner}")
            if member is None:
                pytest.skip(f"{inner} missing from the {BASICSR} sdist")
            (cache / name).write_bytes(member.read())


def _load_module(name: str, path: Path) -> types.ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_reference_folder_without_the_cache_plugin(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> None:
    no_cache = types.SimpleNamespace()  # a config as under -p no:cacheprovider
    folder = reference_folder(no_cache, tmp_path_factory, "reference")
    assert folder.is_dir() and folder.parent == tmp_path_factory.getbasetemp()
    if getattr(request.config, "cache", None) is not None:
        cached = reference_folder(request.config, tmp_path_factory, "reference")
        assert cached.is_dir() and not cached.is_relative_to(tmp_path_factory.getbasetemp())


def matlab_grey(rgb: np.ndarray) -> np.ndarray:
    """MATLAB's rgb2gray of an 8-bit image, on 0-255: the Y row of the inverse NTSC matrix,
    rounded half away from zero."""
    ntsc_to_rgb = [[1.0, 0.956, 0.621], [1.0, -0.272, -0.647], [1.0, -1.106, 1.703]]
    return np.floor(np.round(255 * rgb) @ np.linalg.inv(ntsc_to_rgb)[0] + 0.5)


def natural(name: str) -> np.ndarray:
    return getattr(data, name)().astype(np.float64) / 255


@pytest.mark.parametrize(
    ("name", "blur"),
    [
        ("chelsea", 0.0),
        ("coffee", 0.0),
        ("astronaut", 2.0),
        ("coffee", 4.0),
        ("rocket", 2.0),
        ("immunohistochemistry", 1.0),  # flat background: the case most sensitive to rounding
        ("immunohistochemistry", 4.0),
    ],
)
def test_equals_the_matlab_definition(basicsr_niqe, name: str, blur: float) -> None:
    # 8 bits per channel, as every restored image is before its metrics (and as MATLAB reads it)
    image = np.round(255 * ndimage.gaussian_filter(natural(name), (blur, blur, 0))) / 255
    model = load_niqe_model(basicsr_niqe.params_path)
    expected = basicsr_niqe.niqe(matlab_grey(image))
    assert niqe(image, model) == pytest.approx(expected, abs=0.01)


def test_standard_parameter_files(basicsr_niqe, tmp_path) -> None:
    npz = load_niqe_model(basicsr_niqe.params_path)
    assert npz.description == "pristine parameters from niqe_pris_params.npz"
    scipy.io.savemat(
        tmp_path / "modelparameters.mat", {"mu_prisparam": npz.mu[None], "cov_prisparam": npz.cov}
    )
    mat = load_niqe_model(tmp_path / "modelparameters.mat")
    np.testing.assert_array_equal(mat.mu, npz.mu)
    np.testing.assert_array_equal(mat.cov, npz.cov)
    sharp = natural("chelsea")
    assert niqe(sharp, mat) < niqe(ndimage.gaussian_filter(sharp, (2, 2, 0)), mat)


def test_fitted_model_uses_the_scored_features_and_sharp_blocks(tmp_path) -> None:
    image = natural("astronaut")[:288, :384]
    image[:, :96] = 0.5  # one flat column of blocks: never sharp enough to be kept
    feats, sharpness = patch_features(image)
    assert feats.shape == (12, 36) and sharpness.shape == (12,)
    # Blocks are listed column by column (MATLAB's order): the first 3 are the flat ones.
    assert sharpness[:3].max() < 0.25 * sharpness[3:].min()
    model = fit_niqe_model([image], description="fitted on one test image")
    kept = feats[sharpness > 0.75 * sharpness.max()]
    np.testing.assert_allclose(model.mu, kept.mean(0))
    # The score is the distance between the model and the image's own block features.
    other = natural("coffee")[:288, :384]
    other_feats, _ = patch_features(other)
    diff = model.mu - other_feats.mean(0)
    cov = (model.cov + np.cov(other_feats, rowvar=False)) / 2
    assert niqe(other, model) == pytest.approx(np.sqrt(diff @ np.linalg.pinv(cov) @ diff))
    model.save(tmp_path / "fitted.npz")
    loaded = load_niqe_model(tmp_path / "fitted.npz")
    assert loaded.description == "fitted on one test image"
    np.testing.assert_array_equal(loaded.cov, model.cov)


def test_missing_or_bad_parameters(tmp_path) -> None:
    with pytest.raises(MetricUnavailable, match="set eval.niqe_params"):
        load_niqe_model(None)
    with pytest.raises(MetricUnavailable, match="eval.niqe_params names no file"):
        load_niqe_model(tmp_path / "nope.npz")
    np.savez(tmp_path / "bad.npz", mu=np.zeros(18), cov=np.eye(18))
    with pytest.raises(CheckpointError, match=r"\(18,\)"):
        load_niqe_model(tmp_path / "bad.npz")
    (tmp_path / "junk.mat").write_text("not a mat file")
    with pytest.raises(CheckpointError, match="cannot read NIQE parameters"):
        load_niqe_model(tmp_path / "junk.mat")


def test_too_small_image() -> None:
    model = fit_niqe_model([natural("astronaut")])
    with pytest.raises(DataError, match="at least 2 blocks"):
        niqe(np.zeros((50, 300, 3)), model)


def test_niqe_fit_cli_labels_the_model(tmp_path) -> None:
    """The embedded default's model says what it was fitted on (tables and eval JSON)."""
    records = []
    for i, name in enumerate(("chelsea", "coffee")):
        write_image(tmp_path / f"s{i}.png", natural(name)[:192, :288])
        records.append(
            Record(str(tmp_path / f"s{i}.png"), str(tmp_path / f"s{i}.png"), None, "gopro", "train")
        )
    write_manifest(tmp_path / "train.jsonl", records)
    out = tmp_path / "niqe_params.npz"
    assert main(["niqe-fit", "--manifest", str(tmp_path / "train.jsonl"), "--out", str(out)]) == 0
    model = load_niqe_model(out)
    assert model.description == "fitted on 2 sharp train images of train.jsonl"
    assert np.isfinite(niqe(natural("chelsea"), model))
