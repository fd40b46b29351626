"""FFTformer and SFHformer (Table 1's compared methods) against their official code.

Reference data: ``tests/data/competitors`` (each model's small official checkpoint, its
outputs, the full-size state-dict layout and the full-size counts), copied from the
conformance set ``shared/conformance/competitors`` made with the official code (its
README: constructor arguments, quirks, MAC counting).
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file

import demoe
from demoe.errors import ConfigError
from demoe.eval.cost import count_macs, count_params
from demoe.models.checkpoint import infer_config
from demoe.models.fftformer import FFTformer, infer_fftformer_config
from demoe.models.registry import PRESETS, SHRINK, build_model, create_model, model_to_config
from demoe.models.sfhformer import SFHformer, infer_sfhformer_config

REPO = Path(__file__).resolve().parents[1]
LOCAL = Path(__file__).parent / "data" / "competitors"
#: Where the full conformance set lives beside (or inside) a checkout.
SHARED_CANDIDATES = (REPO / "shared", REPO.parent / "shared")
#: Keys of ``<name>_small_config.json`` that are not constructor arguments.
META_KEYS = ("official_repo", "official_file", "official_class", "commit", "meta")
NAMES = ("fftformer", "sfhformer")
CLASSES = {"fftformer": FFTformer, "sfhformer": SFHformer}
INFER = {"fftformer": infer_fftformer_config, "sfhformer": infer_sfhformer_config}
#: Legal input multiples (conformance README).
MULTIPLE = {"fftformer": 32, "sfhformer": 4}
#: The constructor argument of ours that the official SFHformer fixes in its FourierUnit.
OURS = {"fftformer": {}, "sfhformer": {"fourier_groups": 4}}
#: A tensor inside a block, whose absence the config inference must notice.
DROPPED = {
    "fftformer": "encoder_level2.0.ffn.dwconv.weight",
    "sfhformer": "layer2.blocks.0.ffn.conv1_1.0.weight",
}


def _kwargs(name: str) -> dict:
    cfg = json.loads((LOCAL / f"{name}_small_config.json").read_text())
    return {k: v for k, v in cfg.items() if k not in META_KEYS}


def _io(name: str) -> dict[str, np.ndarray]:
    data = np.load(LOCAL / f"{name}_small_io.npz")
    return {k: data[k] for k in data.files}


def _layout(name: str) -> dict:
    return json.loads((LOCAL / f"{name}_full_state_dict_layout.json").read_text())


def _counts(name: str) -> dict:
    return json.loads((LOCAL / "full_size_counts.json").read_text())[name]


@pytest.fixture(scope="module", params=NAMES)
def official(request) -> dict:
    """The small official model of each architecture: its config, weights and outputs."""
    name = request.param
    state = load_file(str(LOCAL / f"{name}_small.safetensors"))
    model = build_model({"architecture": name, **_kwargs(name)}).eval()
    model.load_state_dict(state, strict=True)
    return {"name": name, "state": state, "model": model, "io": _io(name)}


def test_local_copies_are_the_conformance_files():
    for root in SHARED_CANDIDATES:
        sums = root / "conformance" / "competitors" / "SHA256SUMS"
        if sums.is_file():
            break
    else:
        tried = ", ".join(str(r / "conformance" / "competitors") for r in SHARED_CANDIDATES)
        pytest.skip(f"…/shared/conformance/competitors not found: tried {tried}")
    expected = dict(line.split()[::-1] for line in sums.read_text().splitlines())
    copied = [p for p in LOCAL.iterdir() if p.name.startswith(NAMES)]
    assert len(copied) == 8
    for path in copied:
        assert hashlib.sha256(path.read_bytes()).hexdigest() == expected[path.name], path.name


@pytest.mark.parametrize("pair", [("input", "output"), ("input2", "output2")])
def test_output_equals_the_official_code(official, pair):
    x, expected = (official["io"][k] for k in pair)
    with torch.no_grad():
        out = official["model"](torch.from_numpy(x))
    np.testing.assert_allclose(out.numpy(), expected, atol=1e-5, rtol=0)


def test_config_is_read_off_the_official_weights(official):
    name = official["name"]
    assert infer_config(official["state"]) == {
        "architecture": name,
        **_kwargs(name),
        **OURS[name],
    }


def test_neither_claims_the_other_or_a_nafnet_layout(official):
    nafnet = create_model("demoe_small").state_dict()
    for name, infer in INFER.items():
        assert infer(nafnet) is None
        if name != official["name"]:
            assert infer(official["state"]) is None
    # A state_dict missing one tensor of a block is not the architecture's layout.
    damaged = {k: v for k, v in official["state"].items() if k != DROPPED[official["name"]]}
    assert INFER[official["name"]](damaged) is None


@pytest.mark.parametrize("name", NAMES)
def test_full_size_preset_has_the_official_layout_and_parameter_count(name):
    with torch.device("meta"):
        model = create_model(name)
    layout = _layout(name)
    assert {k: v for k, v in PRESETS[name].items() if k != "architecture"} == layout["kwargs"]
    got = {
        k: {"shape": list(v.shape), "dtype": str(v.dtype)[6:]}
        for k, v in model.state_dict().items()
    }
    assert list(got.items()) == list(layout["state_dict"].items())
    assert count_params(model) == _counts(name)["params"] == layout["n_params"]
    state = {k: torch.empty(v["shape"], device="meta") for k, v in layout["state_dict"].items()}
    assert INFER[name](state) == {**layout["kwargs"], **OURS[name]}


def test_official_fftformer_defaults_build_the_same_network():
    """The official class's default ``num_blocks`` has a fourth entry it never uses."""
    with torch.device("meta"):
        four = FFTformer(num_blocks=[6, 6, 12, 8])
    assert count_params(four) == _counts("fftformer")["params"]


def test_sfhformer_fourier_groups_one_is_the_later_official_default():
    with torch.device("meta"):
        model = SFHformer(fourier_groups=1)
    assert count_params(model) == 7_612_069  # conformance README, groups=1


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"embed_dim": [32, 48, 128, 64, 32]}, "embed_dim"),
        ({"embed_dim": [7, 14, 28, 14, 7]}, "embed_dim"),
        ({"depth": [1, 1, 1, 1]}, "depth"),
        ({"patch_size": 2}, "patch_size"),
        ({"fourier_groups": 3, "embed_dim": [2, 4, 8, 4, 2]}, "fourier_groups"),
    ],
)
def test_sfhformer_configs_the_official_network_cannot_run_are_refused(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        build_model({"architecture": "sfhformer", **kwargs})


@pytest.mark.parametrize("name", NAMES)
def test_loads_from_a_folder_and_from_a_pth(name, tmp_path):
    """``demoe.load_model`` of a folder (official kwargs + architecture in config.json, one
    safetensors) and of a plain official .pth give the official network; both agree on
    an input of a size the reference data never used."""
    state = load_file(str(LOCAL / f"{name}_small.safetensors"))
    folder = tmp_path / "folder"
    folder.mkdir()
    save_file(state, str(folder / "official.safetensors"))
    (folder / "config.json").write_text(json.dumps({"architecture": name, **_kwargs(name)}))
    pth = tmp_path / "official.pth"
    torch.save(state, pth)
    from_folder, from_pth = demoe.load_model(folder), demoe.load_model(pth)
    assert model_to_config(from_folder) == model_to_config(from_pth)
    io = _io(name)
    x = torch.rand(1, 3, 45, 71, generator=torch.Generator().manual_seed(7))
    with torch.inference_mode():
        np.testing.assert_allclose(
            from_pth(torch.from_numpy(io["input"])).numpy(), io["output"], atol=1e-5, rtol=0
        )
        np.testing.assert_allclose(from_folder(x).numpy(), from_pth(x).numpy(), atol=1e-5)


def test_save_and_load_round_trip(official, tmp_path):
    demoe.save_model(official["model"], tmp_path / "m")
    loaded = demoe.load_model(tmp_path / "m")
    assert model_to_config(loaded) == model_to_config(official["model"])
    x = torch.from_numpy(official["io"]["input2"])
    with torch.inference_mode():
        np.testing.assert_allclose(loaded(x).numpy(), official["io"]["output2"], atol=1e-5)


def test_any_size_is_reflect_padded_bottom_right_and_cropped(official):
    """An illegal size runs the network on the reflect-padded image (the official test
    scripts' padding) and crops; a legal size is left as is."""
    model, name = official["model"], official["name"]
    m = MULTIPLE[name]
    x = torch.rand(1, 3, m + 3, m + 1, generator=torch.Generator().manual_seed(3))
    ph, pw = -x.shape[-2] % m, -x.shape[-1] % m
    with torch.no_grad():
        out = model(x)
        padded = F.pad(x, (0, pw, 0, ph), mode="reflect")
        # The bare network (the padding wrapper's parent class or restore step).
        bare = model.restore
        expected = bare(padded)[..., : x.shape[-2], : x.shape[-1]]
        assert out.shape == x.shape
        torch.testing.assert_close(out, expected)
        legal = torch.rand(1, 3, m, 2 * m)
        torch.testing.assert_close(model(legal), bare(legal))
        assert model(torch.rand(1, 3, 1, 5)).shape == (1, 3, 1, 5)


@pytest.mark.parametrize("name", NAMES)
def test_shrunken_preset_is_a_small_trainable_model(name):
    config = SHRINK[name](dict(PRESETS[name]), 4, 2)
    model = build_model(config).train()
    assert 0.25e6 < count_params(model) < 1.5e6
    assert model_to_config(model) == {"architecture": name, **config, **OURS[name]}
    x = torch.rand(1, 3, 32, 32)
    out = model(x)
    assert out.shape == x.shape
    F.l1_loss(out, torch.rand_like(x)).backward()
    # Every parameter is trained but those the official forward never uses.
    unused = json.loads((LOCAL / f"{name}_small_config.json").read_text())["meta"]
    without = {n for n, p in model.named_parameters() if p.grad is None}
    assert without == set(unused["parameters_not_affecting_output"])
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_full_size_macs_match_table1(name):
    """demoe.eval.cost's count (ptflops, PyTorch backend) at 256² within 1 % of Table 1."""
    macs = count_macs(create_model(name).eval(), torch.rand(1, 3, 256, 256))
    assert math.isclose(macs / 1e9, _counts(name)["table1_macs_G"], rel_tol=0.01)
