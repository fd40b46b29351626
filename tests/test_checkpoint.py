"""Checkpoint reading/writing: formats, wrappers, prefixes, refusals and mismatches."""

from __future__ import annotations

import json
import pickle

import pytest
import torch
from conftest import randomize_affine
from safetensors.torch import save_file

import demoe
from demoe.errors import CheckpointError
from demoe.io.checkpoint import read_checkpoint
from demoe.models import DeMoE, NAFNet, create_model
from demoe.models.checkpoint import expert_block_of, infer_config
from demoe.models.experts import TABLE7_EXPERT_BLOCKS


def same_weights(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


@pytest.fixture
def model() -> DeMoE:
    return randomize_affine(create_model("demoe_small", k_used=2))


def test_save_and_load_round_trip_with_config_and_metadata(tmp_path, model):
    folder = demoe.save_model(model, tmp_path / "m", metadata={"experiment": "x", "step": 3})
    names = sorted(p.name for p in folder.iterdir())
    assert names == ["README.md", "config.json", "model.safetensors"]
    stored = json.loads((folder / "config.json").read_text())
    assert stored["architecture"] == "demoe" and stored["metadata"]["step"] == 3
    loaded = demoe.load_model(folder)
    assert same_weights(model, loaded)
    assert loaded.k_used == 2  # comes from config.json, not inferable from weights
    assert not any(p.name.startswith(".") for p in folder.iterdir())  # no temp files left


@pytest.mark.parametrize(
    "wrapper", [None, "params", "params_ema", "model_state_dict", "state_dict", "model"]
)
@pytest.mark.parametrize("suffix", [".pth", ".pt", ".ckpt"])
def test_pickled_state_dicts_in_every_wrapper(tmp_path, model, wrapper, suffix):
    state = model.state_dict()
    obj = state if wrapper is None else {wrapper: state, "iter": 5}
    path = tmp_path / f"ck{suffix}"
    torch.save(obj, path)
    loaded = demoe.load_model(path, config={"k_used": 2})
    assert same_weights(model, loaded)


@pytest.mark.parametrize("prefix", ["module.", "_orig_mod.", "module._orig_mod."])
def test_wrapper_prefixes_are_stripped(tmp_path, model, prefix):
    torch.save({f"{prefix}{k}": v for k, v in model.state_dict().items()}, tmp_path / "c.pth")
    assert same_weights(model, demoe.load_model(tmp_path / "c.pth"))


def test_bare_safetensors_and_hugging_face_folder(tmp_path, model):
    save_file(model.state_dict(), str(tmp_path / "w.safetensors"))
    assert same_weights(model, demoe.load_model(tmp_path / "w.safetensors"))
    hf = tmp_path / "hf"
    hf.mkdir()
    save_file(model.state_dict(), str(hf / "diffusion_pytorch_model.safetensors"))
    published_keys = (
        "img_channel",
        "width",
        "middle_blk_num",
        "enc_blk_nums",
        "dec_blk_nums",
        "num_exp",
        "k_used",
    )
    hf_config = {"_class_name": "DeMoE_arch", "_diffusers_version": "0.30.0"}
    hf_config.update({k: model.config[k] for k in published_keys})
    (hf / "config.json").write_text(json.dumps(hf_config))
    loaded = demoe.load_model(hf)
    assert same_weights(model, loaded) and loaded.k_used == 2
    (hf / "config.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="unreadable model config"):
        demoe.load_model(hf)


def test_config_is_inferred_from_shapes():
    for m in (
        create_model("demoe"),
        create_model("nafnet_original"),
        create_model("demoe_baseline"),
        create_model("demoe_small", moe_blocks_per_stage=2),
    ):
        cfg = infer_config(m.state_dict())
        rebuilt = demoe.models.build_model(cfg)
        assert type(rebuilt) is type(m)
        assert {k: list(v.shape) for k, v in rebuilt.state_dict().items()} == {
            k: list(v.shape) for k, v in m.state_dict().items()
        }


TINY = {"width": 8, "middle_blk_num": 1, "enc_blk_nums": [1, 1], "dec_blk_nums": [1, 1]}


@pytest.mark.parametrize("block", ["nafblock", *TABLE7_EXPERT_BLOCKS])
@pytest.mark.parametrize("block_experts", [None, 1])
def test_expert_block_is_inferred_from_the_weights(tmp_path, block, block_experts):
    m = randomize_affine(
        create_model("demoe", **TINY, expert_block=block, block_experts=block_experts)
    )
    cfg = infer_config(m.state_dict())
    assert cfg["expert_block"] == block
    assert cfg["block_experts"] == m.config["block_experts"]
    rebuilt = demoe.models.build_model(cfg)
    rebuilt.load_state_dict(m.state_dict(), strict=True)
    # A bare state_dict (no config.json) loads as the right block, with the same weights.
    torch.save(m.state_dict(), tmp_path / "bare.pth")
    loaded = demoe.load_model(tmp_path / "bare.pth")
    assert loaded.config["expert_block"] == block and same_weights(m, loaded)


def test_expert_block_refusals(tmp_path):
    state = create_model("demoe", **TINY, expert_block="plk").state_dict()
    # The weights decide: a config naming another block is refused before building it.
    torch.save(state, tmp_path / "plk.pth")
    with pytest.raises(CheckpointError, match="expert_block: config 'darkir' vs weights 'plk'"):
        demoe.load_model(tmp_path / "plk.pth", config={"expert_block": "darkir"})
    # Names of one block with the shapes of none (channels): no block fits.
    with pytest.raises(CheckpointError, match="none of the known blocks"):
        expert_block_of(state, channels=64)
    foreign = {**state, "experts.0.experts.0.extra.weight": torch.zeros(3)}
    with pytest.raises(CheckpointError, match="none of the known blocks"):
        infer_config(foreign)


def test_nafnet_original_layout_keys():
    keys = create_model("nafnet_original").state_dict().keys()
    assert "encoders.3.27.conv1.weight" in keys and "middle_blks.0.beta" in keys
    assert isinstance(create_model("nafnet"), NAFNet)


class Evil:
    def __reduce__(self):
        return (print, ("executed",))


def test_pickled_code_is_refused_not_executed(tmp_path, capsys):
    path = tmp_path / "evil.pth"
    with open(path, "wb") as fh:
        pickle.dump({"params": Evil()}, fh)
    with pytest.raises(CheckpointError, match="weights_only"):
        demoe.load_model(path)
    assert "executed" not in capsys.readouterr().out
    torch.save({"params": Evil()}, path)  # the zip archive of torch.save
    with pytest.raises(CheckpointError, match="needs pickled code"):
        demoe.load_model(path)
    assert "executed" not in capsys.readouterr().out


def test_mismatched_architecture_names_missing_unexpected_and_shapes(tmp_path, model):
    state = model.state_dict()
    state.pop("ending.bias")
    state["extra.weight"] = torch.zeros(1)
    state["intro.bias"] = torch.zeros(5)
    torch.save(state, tmp_path / "bad.pth")
    with pytest.raises(CheckpointError) as err:
        demoe.load_model(tmp_path / "bad.pth", config=model.config | {"architecture": "demoe"})
    msg = str(err.value)
    assert "1 missing (ending.bias)" in msg and "1 unexpected (extra.weight)" in msg
    assert "intro.bias: checkpoint (5,) vs model (8,)" in msg


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "not a checkpoint: .* is empty"),
        (b"not a checkpoint at all", "not a checkpoint: .* neither a torch.save zip"),
        (b"\x80\x02" + bytes(range(200, 256)) * 4, "damaged or foreign pickle"),
        (b"PK\x03\x04" + bytes(64), "unreadable checkpoint"),
    ],
)
def test_corrupt_files_are_clear_errors(tmp_path, content, message):
    (tmp_path / "c.pth").write_bytes(content)
    with pytest.raises(CheckpointError, match=message):
        read_checkpoint(tmp_path / "c.pth")
    (tmp_path / "c.safetensors").write_bytes(content)
    with pytest.raises(CheckpointError, match="unreadable safetensors"):
        read_checkpoint(tmp_path / "c.safetensors")


def test_missing_and_unsupported_paths(tmp_path):
    with pytest.raises(CheckpointError, match="not found"):
        demoe.load_model(tmp_path / "nope.pth")
    (tmp_path / "m.onnx").write_bytes(b"x")
    with pytest.raises(CheckpointError, match="unsupported"):
        demoe.load_model(tmp_path / "m.onnx")
    torch.save({"optimizer": {"lr": torch.tensor(1.0)}, "epoch": 3}, tmp_path / "o.pth")
    with pytest.raises(CheckpointError, match="no state_dict"):
        demoe.load_model(tmp_path / "o.pth")
    torch.save({"conv.weight": torch.zeros(1)}, tmp_path / "other.pth")
    with pytest.raises(CheckpointError, match="none of the known architectures"):
        demoe.load_model(tmp_path / "other.pth")


def test_atomic_writes_respect_the_umask(tmp_path):
    import os

    from demoe.io.atomic import write_text

    old = os.umask(0o022)
    try:
        write_text(tmp_path / "a.txt", "x")
    finally:
        os.umask(old)
    assert (tmp_path / "a.txt").stat().st_mode & 0o777 == 0o644
