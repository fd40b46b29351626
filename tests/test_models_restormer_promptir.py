"""Restormer and PromptIR (Table 1's compared methods) against their official code.

Reference data: ``tests/data/competitors`` (Restormer's small model, both full-size
layouts, the full-size counts; copied from the conformance set) and, for PromptIR's 44 MB
small model, the conformance set itself (``shared/conformance/competitors``; skipped where a
clone lacks it).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import load_file

import demoe
from demoe.eval.cost import count_macs, count_params
from demoe.models.checkpoint import infer_config
from demoe.models.promptir import PromptIR, derived_prompt_dims, infer_promptir_config
from demoe.models.registry import PRESETS, SHRINK, build_model, create_model, model_to_config
from demoe.models.restormer import (
    ChannelNorm,
    Restormer,
    expansion_factor,
    infer_restormer_config,
    reflect_pad_to_multiple,
)

REPO = Path(__file__).resolve().parents[1]
LOCAL = Path(__file__).parent / "data" / "competitors"
#: Where the full conformance set lives beside (or inside) a checkout.
SHARED_CANDIDATES = (REPO / "shared", REPO.parent / "shared")
#: Keys of ``<name>_small_config.json`` that are not constructor arguments.
META_KEYS = ("official_repo", "official_file", "official_class", "commit", "meta")
#: Official output tolerance (the conformance README: thread-count noise ~2e-5 for PromptIR,
#: whose outputs reach 15).
ATOL = {"restormer": 1e-5, "promptir": 1e-4}
#: PromptIR's convolutions that its forward never runs (conformance README).
PROMPTIR_UNUSED = {
    *(f"chnl_reduce{k}.weight" for k in (1, 2, 3)),
    *(f"reduce_noise_channel_{k}.weight" for k in (1, 2, 3)),
}


def _shared() -> Path:
    for root in SHARED_CANDIDATES:
        folder = root / "conformance" / "competitors"
        if folder.is_dir():
            return folder
    tried = ", ".join(str(r / "conformance" / "competitors") for r in SHARED_CANDIDATES)
    pytest.skip(f"…/shared/conformance/competitors not found: tried {tried}")


def _small(name: str) -> tuple[Path, Path]:
    """(folder of the small model's files, its safetensors): local copy first."""
    if (LOCAL / f"{name}_small.safetensors").exists():
        return LOCAL, LOCAL / f"{name}_small.safetensors"
    folder = _shared()
    return folder, folder / f"{name}_small.safetensors"


def _kwargs(folder: Path, name: str) -> dict:
    cfg = json.loads((folder / f"{name}_small_config.json").read_text())
    return {k: v for k, v in cfg.items() if k not in META_KEYS}


def _io(folder: Path, name: str) -> dict[str, np.ndarray]:
    data = np.load(folder / f"{name}_small_io.npz")
    return {k: data[k] for k in data.files}


@pytest.fixture(scope="module", params=["restormer", "promptir"])
def official(request) -> dict:
    """The small official model of each architecture: its config, weights and outputs."""
    name = request.param
    folder, weights = _small(name)
    state = load_file(str(weights))
    model = build_model({"architecture": name, **_kwargs(folder, name)}).eval()
    model.load_state_dict(state, strict=True)
    return {
        "name": name,
        "kwargs": _kwargs(folder, name),
        "weights": weights,
        "state": state,
        "model": model,
        "io": _io(folder, name),
    }


@pytest.mark.parametrize("pair", [("input", "output"), ("input2", "output2")])
def test_output_equals_the_official_code(official, pair):
    x, expected = (official["io"][k] for k in pair)
    with torch.no_grad():
        out = official["model"](torch.from_numpy(x))
    np.testing.assert_allclose(out.numpy(), expected, atol=ATOL[official["name"]], rtol=0)


def test_config_is_read_off_the_official_weights(official):
    config = infer_config(official["state"])
    assert config["architecture"] == official["name"]
    assert {k: config[k] for k in official["kwargs"]} == official["kwargs"]


def _meta_state(name: str) -> dict[str, torch.Tensor]:
    layout = json.loads((LOCAL / f"{name}_full_state_dict_layout.json").read_text())
    return {
        k: torch.empty(v["shape"], device="meta", dtype=getattr(torch, v["dtype"]))
        for k, v in layout["state_dict"].items()
    }


@pytest.mark.parametrize("name", ["restormer", "promptir"])
def test_full_size_preset_has_the_official_layout_and_parameter_count(name):
    with torch.device("meta"):
        model = create_model(name)
    official = {k: tuple(v.shape) for k, v in _meta_state(name).items()}
    assert {k: tuple(v.shape) for k, v in model.state_dict().items()} == official
    counts = json.loads((LOCAL / "full_size_counts.json").read_text())[name]
    assert count_params(model) == counts["params"]
    assert round(count_params(model) / 1e6, 2) == counts["table1_params_M"]


@pytest.mark.parametrize("name", ["restormer", "promptir"])
def test_full_size_config_is_read_off_the_official_layout(name):
    counts = json.loads((LOCAL / "full_size_counts.json").read_text())[name]
    config = infer_config(_meta_state(name))
    assert config["architecture"] == name
    assert {k: config[k] for k in counts["kwargs"]} == counts["kwargs"]
    if name == "promptir":
        assert config["prompt_dims"] == [64, 128, 320] == derived_prompt_dims(48)
        assert (config["prompt_sizes"], config["prompt_len"]) == ([64, 32, 16], 5)


def test_neither_claims_the_others_or_nafnets_keys():
    assert infer_restormer_config(_meta_state("promptir")) is None
    assert infer_promptir_config(_meta_state("restormer")) is None
    nafnet = create_model("nafnet_original").state_dict()
    assert infer_restormer_config(nafnet) is None and infer_promptir_config(nafnet) is None
    # Dropping one tensor of a Restormer makes it no architecture's layout.
    partial = dict(_meta_state("restormer"))
    partial.pop("refinement.0.ffn.dwconv.weight")
    assert infer_restormer_config(partial) is None


@pytest.mark.parametrize(
    ("pairs", "factor"),
    [
        ([(48, 127), (96, 255), (192, 510), (384, 1021)], 2.66),  # the official widths
        ([(48, 31), (96, 63), (192, 126), (384, 253), (704, 464)], 0.66),  # PromptIR small
        ([(48, 127), (96, 200)], None),  # no single factor truncates to both
    ],
)
def test_expansion_factor_from_the_truncated_widths(pairs, factor):
    assert expansion_factor(pairs) == factor


def test_loads_from_a_folder_and_a_pth_alike(official, tmp_path):
    """``demoe.load_model`` of a folder (config.json = official kwargs + architecture, one
    safetensors) and of a plain official ``.pth`` (under ``params``, as the official
    releases) agree with each other and the official code, on an input no test saw."""
    name = official["name"]
    folder = tmp_path / "folder"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"architecture": name, **official["kwargs"]}))
    (folder / f"{name}.safetensors").symlink_to(official["weights"])
    from_folder = demoe.load_model(folder)
    x = torch.rand(2, 3, 37, 53, generator=torch.Generator().manual_seed(7))
    with torch.no_grad():
        expected = official["model"](x)
        np.testing.assert_allclose(from_folder(x), expected, atol=ATOL[name], rtol=0)
        io = official["io"]
        got = from_folder(torch.from_numpy(io["input"]))
        np.testing.assert_allclose(got, io["output"], atol=ATOL[name], rtol=0)
    if name == "promptir":  # a 44 MB .pth: the folder path is enough
        return
    pth = tmp_path / f"{name}.pth"
    torch.save({"params": official["state"]}, pth)
    from_pth = demoe.load_model(pth)
    assert model_to_config(from_pth) == model_to_config(from_folder)
    with torch.no_grad():
        np.testing.assert_allclose(from_pth(x), from_folder(x), atol=1e-6, rtol=0)


def _shrunk(name: str) -> torch.nn.Module:
    """The small profile's model (``train.model_scale``: width ÷ 4, blocks ÷ 2)."""
    preset = {k: v for k, v in PRESETS[name].items() if k != "architecture"}
    return build_model({"architecture": name, **SHRINK[name](preset, 4, 2)})


@pytest.mark.parametrize("name", ["restormer", "promptir"])
def test_shrunken_model_is_small_and_trains(name):
    model = _shrunk(name)
    assert model.config["dim"] == 12
    assert model.config["num_blocks"] == [2, 3, 3, 4]
    assert model.config["num_refinement_blocks"] == 2
    assert 0.3e6 <= count_params(model) <= 1.7e6
    if name == "promptir":
        assert model.config["prompt_dims"] == [16, 32, 80]
        assert model.config["prompt_sizes"] == [32, 16, 8]
    x = torch.rand(2, 3, 64, 64)
    out = model(x)
    assert out.shape == x.shape
    (out - x).abs().mean().backward()
    no_grad = {n for n, p in model.named_parameters() if p.grad is None or not p.grad.any()}
    assert no_grad == (PROMPTIR_UNUSED if name == "promptir" else set())


@pytest.mark.parametrize("name", ["restormer", "promptir"])
def test_save_and_load_round_trip(name, tmp_path):
    model = _shrunk(name).eval()
    x = torch.rand(1, 3, 24, 40)
    loaded = demoe.load_model(demoe.save_model(model, tmp_path / name))
    assert model_to_config(loaded) == model_to_config(model)
    with torch.no_grad():
        np.testing.assert_allclose(loaded(x), model(x), atol=1e-5, rtol=0)


@pytest.mark.parametrize("name", ["restormer", "promptir"])
def test_any_input_size_is_padded_as_the_official_test_script_and_cropped(name):
    model = _shrunk(name).eval()
    with torch.no_grad():
        for size in [(13, 21), (3, 5), (16, 24)]:
            x = torch.rand(1, 3, *size)
            out = model(x)
            assert out.shape == x.shape and torch.isfinite(out).all()
        # Reflection of the bottom/right border, cropped back after the network.
        x = torch.rand(1, 3, 13, 21)
        padded = F.pad(x, (0, 3, 0, 3), mode="reflect")
        np.testing.assert_allclose(model(x), model.restore(padded)[..., :13, :21], atol=1e-6)
        # A legal size is the network itself.
        x = torch.rand(1, 3, 16, 24)
        assert torch.equal(model(x), model.restore(x))
    assert reflect_pad_to_multiple(x, 8) is x


def test_layer_norm_types():
    x = torch.randn(2, 6, 4, 5)
    with_bias, bias_free = ChannelNorm(6, "WithBias"), ChannelNorm(6, "BiasFree")
    expected = F.layer_norm(x.permute(0, 2, 3, 1), (6,), eps=1e-5).permute(0, 3, 1, 2)
    torch.testing.assert_close(with_bias(x), expected)
    # BiasFree divides by the standard deviation but does not centre.
    torch.testing.assert_close(
        bias_free(x), x / (x.var(1, keepdim=True, unbiased=False) + 1e-5).sqrt()
    )
    assert [k for k, _ in bias_free.named_parameters()] == ["body.weight"]
    with pytest.raises(ValueError, match="LayerNorm_type must be one of WithBias, BiasFree"):
        ChannelNorm(6, "Batch")


def test_dual_pixel_variant_adds_the_skip_conv_and_drops_the_image_residual():
    small = {"dim": 8, "num_blocks": [1, 1, 1, 1], "num_refinement_blocks": 1}
    plain = Restormer(**small).eval()
    dual = Restormer(inp_channels=6, dual_pixel_task=True, **small).eval()
    assert "skip_conv.weight" in dual.state_dict() and "skip_conv.weight" not in plain.state_dict()
    assert infer_restormer_config(dual.state_dict())["dual_pixel_task"] is True
    for model in (plain, dual):
        torch.nn.init.zeros_(model.output.weight)
    with torch.no_grad():
        x = torch.rand(1, 3, 16, 16)
        assert torch.equal(plain(x), x)
        assert not dual(torch.rand(1, 6, 16, 16)).any()


def test_promptir_without_its_prompt_blocks_is_refused():
    with pytest.raises(ValueError, match="decoder=True"):
        PromptIR(dim=8, decoder=False)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["restormer", "promptir"])
def test_full_size_macs_match_table1(name):
    """demoe.eval.cost's count (ptflops, PyTorch backend) at 256² within 1 % of Table 1."""
    counts = json.loads((LOCAL / "full_size_counts.json").read_text())[name]
    macs = count_macs(create_model(name).eval(), torch.rand(1, 3, 256, 256))
    assert math.isclose(macs / 1e9, counts["table1_macs_G"], rel_tol=0.01)
