"""ONNX export (``demoe models export``): onnxruntime matches PyTorch on other sizes."""

from __future__ import annotations

import warnings

import numpy as np
import onnx
import pytest
import torch
from conftest import randomize_affine

from demoe.cli import main
from demoe.models import DeMoE, NAFNet
from demoe.models.checkpoint import load_model, save_model
from demoe.models.export import TRACE_SHAPE, DeMoEGraph, export_onnx, exportable, run_onnx
from demoe.models.registry import SHRINK, architectures, build_model, model_config
from demoe.tasks import TASKS

TINY = {"width": 8, "middle_blk_num": 1, "enc_blk_nums": (1, 1), "dec_blk_nums": (1, 1)}
ATOL = 1e-4


def tiny(cls: type, seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    return randomize_affine(cls(**TINY)).eval()


def decisive_demoe() -> DeMoE:
    """A tiny DeMoE whose router sends the images of :func:`varied` to different experts."""
    model = tiny(DeMoE)
    last = model.mlp_branch.classifier[-1]
    with torch.no_grad():
        last.weight.mul_(50.0)
    return model


def varied(h: int, w: int) -> torch.Tensor:
    """Three images of different brightness and texture."""
    g = torch.Generator().manual_seed(2)
    base = torch.rand(3, 3, h, w, generator=g)
    return torch.stack([base[0] * 0.1, base[1], 0.5 + 0.5 * base[2].round()])


def assert_close(got: np.ndarray, expected: torch.Tensor) -> None:
    np.testing.assert_allclose(got, expected.numpy(), atol=ATOL, rtol=0)


@pytest.fixture(scope="module")
def nafnet_onnx(tmp_path_factory):
    model = tiny(NAFNet)
    path = tmp_path_factory.mktemp("onnx") / "nafnet.onnx"
    report = export_onnx(model, path)
    return model, path, report


def test_nafnet_matches_on_sizes_and_batches_other_than_the_traced_one(nafnet_onnx):
    model, path, report = nafnet_onnx
    assert report.architecture == "nafnet" and report.expert is None
    assert report.max_abs_diff <= ATOL and report.outputs == ["output"]
    for shape in [(2, 3, 23, 70), (1, 3, 16, 16), (1, 3, 5, 3)]:
        assert shape[2:] != TRACE_SHAPE[2:]
        x = torch.rand(shape)
        with torch.inference_mode():
            expected = model(x)
        (got,) = run_onnx(path, x)
        assert got.shape == shape
        assert_close(got, expected)
    proto = onnx.load(str(path))
    assert {p.key: p.value for p in proto.metadata_props}["demoe.architecture"] == "nafnet"
    for value in (proto.graph.input[0], proto.graph.output[0]):
        dims = [d.dim_param or d.dim_value for d in value.type.tensor_type.shape.dim]
        assert dims == ["batch", 3, "height", "width"]


def test_router_chosen_experts_match_per_image(tmp_path):
    model = decisive_demoe()
    path = tmp_path / "demoe.onnx"
    report = export_onnx(model, path)
    assert report.expert == "auto" and report.outputs == ["output", "probabilities"]
    x = varied(29, 50)
    with torch.inference_mode():
        expected = model(x, return_aux=True)
    probs = torch.softmax(expected.logits, dim=1)
    assert len(set(probs.argmax(1).tolist())) > 1, "the images should pick different experts"
    output, probabilities = run_onnx(path, x)
    assert_close(output, expected.output)
    assert_close(probabilities, probs)


def test_fixed_expert_through_the_cli(tmp_path, capsys):
    folder = save_model(tiny(DeMoE, seed=1), tmp_path / "model")
    out = tmp_path / "expert.onnx"
    assert main(["models", "export", str(folder), "--onnx", str(out), "--expert", "lolblur"]) == 0
    assert '"expert": "lolblur"' in capsys.readouterr().out
    model = load_model(folder)
    x = torch.rand(1, 3, 40, 24)
    with torch.inference_mode():
        expected = model(x, task="low_light")
        other = model(x, task=TASKS[0])
    (got,) = run_onnx(out, x)
    assert_close(got, expected)
    assert not np.allclose(got, other.numpy(), atol=ATOL)


def test_a_failed_check_writes_nothing(tmp_path):
    path = tmp_path / "bad.onnx"
    path.write_text("previous")
    with pytest.raises(ValueError, match="onnxruntime differs from PyTorch"):
        export_onnx(tiny(NAFNet), path, atol=-1.0)
    assert path.read_text() == "previous"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.onnx"]


def test_expert_of_a_model_without_experts_is_a_one_line_error(tmp_path, capsys):
    folder = save_model(tiny(NAFNet), tmp_path / "nafnet")
    argv = [
        "models",
        "export",
        str(folder),
        "--onnx",
        str(tmp_path / "x.onnx"),
        "--expert",
        "gopro",
    ]
    assert main(argv) == 2
    assert "a nafnet model has none" in capsys.readouterr().err
    assert not (tmp_path / "x.onnx").exists()


def test_forward_traces_without_value_checks_yet_eager_calls_refuse_nan():
    model = tiny(NAFNet)
    x = torch.rand(1, 3, 21, 29)
    dims = {"inp": {2: torch.export.Dim.DYNAMIC, 3: torch.export.Dim.DYNAMIC}}
    program = torch.export.export(model, (x,), dynamic_shapes=dims)
    for shape in [(1, 3, 33, 17), (1, 3, 6, 10)]:
        y = torch.rand(shape)
        torch.testing.assert_close(program.module()(y), model(y))
    fixed = torch.export.export(exportable(tiny(DeMoE), "gopro"), (x,))
    assert fixed.module()(x).shape == x.shape
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the shape checks' TracerWarnings, jit's deprecation
        traced = torch.jit.trace(model, (x,))
    torch.testing.assert_close(traced(x), model(x))
    with pytest.raises(ValueError, match="NaN or infinite"):
        model(torch.full_like(x, float("nan")))


def test_dense_top_k_equals_the_grouped_top_k():
    model = decisive_demoe()
    for block in model.experts:
        block.used = 2
    x = varied(16, 24)
    with torch.no_grad():
        expected = model(x)
        out, _ = DeMoEGraph(model).eval()(x)
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=0)


architectures()  # registers the compared methods and their small-profile rules
# One compared method beside NAFNet and DeMoE keeps the suite's time: the others export
# too (Restormer ~30 s, PromptIR ~45 s; FFTformer, onnxruntime within 2.4e-7, needs about
# five CPU minutes of torch.export for its FFT blocks).
OTHERS = ["sfhformer"]


@pytest.mark.parametrize("name", OTHERS)
def test_compared_methods_export_at_a_small_size(name, tmp_path):
    torch.manual_seed(0)
    model = build_model(SHRINK[name](model_config(name), 4, 8)).eval()
    report = export_onnx(model, tmp_path / f"{name}.onnx")
    assert report.architecture == name and report.max_abs_diff <= ATOL
