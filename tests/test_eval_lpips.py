"""LPIPS-Alex: weight formats, zero for identical images, and an independent computation."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from demoe.errors import CheckpointError, DataError
from demoe.eval.common import MetricUnavailable
from demoe.eval.lpips import LPIPS, load_lpips
from demoe.eval.registry import compute_metrics

CONV = {0: (64, 3, 11), 3: (192, 64, 5), 6: (384, 192, 3), 8: (256, 384, 3), 10: (256, 256, 3)}
LIN_CHANNELS = (64, 192, 384, 256, 256)


@pytest.fixture(scope="module")
def weights() -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    state = {}
    for i, (out, inp, k) in CONV.items():
        state[f"features.{i}.weight"] = (
            torch.randn(out, inp, k, k, generator=g) / (inp * k * k) ** 0.5
        )
        state[f"features.{i}.bias"] = 0.1 * torch.randn(out, generator=g)
    for k, c in enumerate(LIN_CHANNELS):
        state[f"lin{k}.model.1.weight"] = torch.rand(1, c, 1, 1, generator=g)
    return state


@pytest.fixture(scope="module")
def files(weights, tmp_path_factory) -> tuple:
    root = tmp_path_factory.mktemp("lpips")
    lin = {k: v for k, v in weights.items() if k.startswith("lin")}
    backbone = {k: v for k, v in weights.items() if k.startswith("features")}
    backbone["classifier.1.weight"] = torch.zeros(2, 2)  # ignored, as in torchvision files
    torch.save(lin, root / "alex.pth")
    torch.save(backbone, root / "alexnet.pth")
    return root / "alex.pth", root / "alexnet.pth"


def images() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    x = torch.rand(2, 3, 64, 72, generator=g)
    y = (x + 0.2 * torch.randn(x.shape, generator=g)).clamp(0, 1)
    return x, y


def reference_lpips(
    state: dict[str, torch.Tensor], x: torch.Tensor, y: torch.Tensor
) -> torch.Tensor:
    """LPIPS written out with plain torch ops, independently of demoe.eval.lpips."""
    shift = torch.tensor([-0.030, -0.088, -0.188]).view(1, 3, 1, 1)
    scale = torch.tensor([0.458, 0.448, 0.450]).view(1, 3, 1, 1)

    def conv(h, i, stride=1, pad=1):
        return F.relu(
            F.conv2d(h, state[f"features.{i}.weight"], state[f"features.{i}.bias"], stride, pad)
        )

    def features(img):
        h = (2 * img - 1 - shift) / scale
        f1 = conv(h, 0, stride=4, pad=2)
        f2 = conv(F.max_pool2d(f1, 3, 2), 3, pad=2)
        f3 = conv(F.max_pool2d(f2, 3, 2), 6)
        f4 = conv(f3, 8)
        f5 = conv(f4, 10)
        return [f1, f2, f3, f4, f5]

    total = torch.zeros(x.shape[0])
    for k, (fx, fy) in enumerate(zip(features(x), features(y), strict=True)):
        nx = fx / (fx.pow(2).sum(1, keepdim=True).sqrt() + 1e-10)
        ny = fy / (fy.pow(2).sum(1, keepdim=True).sqrt() + 1e-10)
        w = state[f"lin{k}.model.1.weight"].view(1, -1, 1, 1)
        total += ((nx - ny) ** 2 * w).sum(1).mean((1, 2))
    return total


def test_matches_independent_computation(weights, files) -> None:
    model = load_lpips(*files)
    x, y = images()
    with torch.inference_mode():
        got = model(x, y)
    expected = reference_lpips(weights, x, y)
    assert got.shape == (2,)
    assert torch.all(expected > 0)
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-6)
    with torch.inference_mode():
        assert torch.all(model(x, x) == 0)


def test_weights_by_config_key_and_combined_lpips_package_layout(
    weights, files, tmp_path, monkeypatch
) -> None:
    x, y = images()
    expected = reference_lpips(weights, x, y)
    by_key = {"lpips_weights": files[0], "alexnet_weights": files[1]}
    values, reasons = compute_metrics(
        x[0].double(), y[0].double(), metrics=("lpips",), weights=by_key
    )
    assert not reasons and values["lpips"] == pytest.approx(float(expected[0]), rel=1e-5)
    # nothing is read from the environment (the variables of the former route are ignored)
    monkeypatch.setenv("DEMOE_LPIPS_WEIGHTS", str(files[0]))
    monkeypatch.setenv("DEMOE_ALEXNET_WEIGHTS", str(files[1]))
    _, reasons = compute_metrics(x[0].double(), y[0].double(), metrics=("lpips",))
    assert "set eval.lpips_weights" in reasons["lpips"]
    # the lpips package's full-model state_dict: net.slice{s}.{features index}.*
    slice_of = {0: 1, 3: 2, 6: 3, 8: 4, 10: 5}
    combined = {k: v for k, v in weights.items() if k.startswith("lin")}
    for i, s in slice_of.items():
        for p in ("weight", "bias"):
            combined[f"net.slice{s}.{i}.{p}"] = weights[f"features.{i}.{p}"]
    combined["scaling_layer.shift"] = torch.zeros(1, 3, 1, 1)
    torch.save(combined, tmp_path / "lpips_full.pth")
    with torch.inference_mode():
        got = load_lpips(tmp_path / "lpips_full.pth")(x, y)
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-6)


def test_absent_weights_raise_metric_unavailable(files, tmp_path) -> None:
    with pytest.raises(MetricUnavailable, match="set eval.lpips_weights"):
        load_lpips()
    with pytest.raises(MetricUnavailable, match="not found at"):
        load_lpips(tmp_path / "missing.pth")
    with pytest.raises(MetricUnavailable, match="backbone weights: set eval.alexnet_weights"):
        load_lpips(files[0])


def test_broken_files_raise_checkpoint_error(weights, tmp_path) -> None:
    incomplete = {k: v for k, v in weights.items() if k != "lin4.model.1.weight"}
    torch.save(incomplete, tmp_path / "incomplete.pth")
    with pytest.raises(CheckpointError, match="incomplete"):
        load_lpips(tmp_path / "incomplete.pth")
    torch.save({**weights, "mystery": torch.zeros(1)}, tmp_path / "extra.pth")
    with pytest.raises(CheckpointError, match="mystery"):
        load_lpips(tmp_path / "extra.pth")
    (tmp_path / "garbage.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="cannot read"):
        load_lpips(tmp_path / "garbage.pth")


def test_too_small_or_mismatched_inputs() -> None:
    model = LPIPS()
    with pytest.raises(DataError, match="differ in size"):
        model(torch.zeros(1, 3, 64, 64), torch.zeros(1, 3, 64, 63))
    with pytest.raises(DataError, match="H, W >= 31"):
        model(torch.zeros(1, 3, 16, 64), torch.zeros(1, 3, 16, 64))
