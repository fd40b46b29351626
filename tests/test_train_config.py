"""Config validation, experiment definitions and their resolution under both profiles."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from demoe.cli import main
from demoe.errors import ConfigError
from demoe.experiments.catalogue import EXPERIMENTS, init_chain, resolve_config, resolve_dict
from demoe.models.nafnet import nafnet_from_expert
from demoe.models.registry import build_model, model_config
from demoe.tasks import AIO_BLUR
from demoe.train.config import apply_overrides, from_dict, load_config, write_config
from demoe.train.toy import toy_config, write_toy_aioblur

ROOT = Path(__file__).parents[1]
PROFILES = {
    name: yaml.safe_load((ROOT / "config" / f"{name}.yaml").read_text())["train"]
    for name in ("config", "paper")
}


@pytest.fixture
def good(tmp_path) -> dict:
    return toy_config({"train": "t.jsonl", "test": "v.jsonl"}, tmp_path).to_dict()


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda c: c["optim"].update(lrr=1), "unknown key 'optim.lrr'"),
        (lambda c: c["data"].pop("crop"), "missing key 'data.crop'"),
        (lambda c: c.pop("run"), "missing key 'run'"),
        (lambda c: c.update(bogus=1), "unknown key 'bogus'"),
        (lambda c: c["data"].update(batch_size="4"), "data.batch_size: expected int"),
        (lambda c: c["run"].update(amp="fp8"), "run.amp"),
        (lambda c: c["schedule"].update(epochs=3), "exactly one"),
        (lambda c: c["freeze"].update(groups=["encoder"]), "unknown group 'encoder'"),
        (lambda c: c["data"].update(datasets=["imagenet"]), "unknown dataset"),
        (lambda c: c["optim"].update(lr=-1.0), "optim.lr"),
        (lambda c: c["model"].update(task="fog"), "model.task"),
    ],
)
def test_invalid_configs_name_the_key(good, edit, message):
    edit(good)
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        from_dict(good)


def test_overrides_and_roundtrip(good, tmp_path):
    config = from_dict(
        apply_overrides(
            good, ["optim.lr=5e-4", "optim.betas=[0.9, 0.99]", "model.overrides.width=8"]
        )
    )
    assert config.optim.lr == 5e-4 and config.optim.betas == [0.9, 0.99]
    assert config.model.overrides["width"] == 8
    with pytest.raises(ConfigError, match="unknown key 'optim.lrr'"):
        apply_overrides(good, ["optim.lrr=1"])
    with pytest.raises(ConfigError, match="key=value"):
        apply_overrides(good, ["optim.lr"])
    write_config(config, tmp_path / "c.yaml")
    assert load_config(tmp_path / "c.yaml") == config
    assert load_config(tmp_path / "c.yaml", ["schedule.steps=9"]).schedule.steps == 9


def test_experiment_list_covers_the_paper():
    names = set(EXPERIMENTS)
    expected = {f"nafnet_{d}" for d in AIO_BLUR} | {f"demoe_star_{d}" for d in AIO_BLUR}
    expected |= {"baseline_aio", "baseline_aio_noclass", "baseline_original_arch", "demoe"}
    expected |= {"ablation_scratch", "ablation_router_noise", "ablation_finetune_all"}
    expected |= {"ablation_residual", "ablation_attention", "ablation_width64"}
    expected |= {"ablation_middle12", "ablation_moe_blocks"}
    assert expected <= names
    assert EXPERIMENTS["baseline_aio_noclass"].lambda_cls == 0
    assert EXPERIMENTS["baseline_aio"].lambda_cls == 0.001
    assert init_chain("demoe_star_gopro") == ["demoe", "baseline_aio"]


@pytest.mark.parametrize("profile", sorted(PROFILES))
@pytest.mark.parametrize("name", sorted(EXPERIMENTS))
def test_every_experiment_resolves(profile, name):
    config = resolve_config(name, PROFILES[profile], "res")
    assert config.output == f"res/models/{name}"
    exp = EXPERIMENTS[name]
    if exp.init_from is None:
        assert config.init.source is None
        return
    # the init source's architecture fits: same config except the experts per block
    parent = resolve_config(exp.init_from, PROFILES[profile], "res").model
    mine = model_config(config.model.preset, **config.model.overrides)
    theirs = model_config(parent.preset, **parent.overrides)
    if exp.init_mode == "expert":  # DeMoE*: the parent's k=1 network without router
        extracted = nafnet_from_expert(build_model(theirs), exp.init_expert)
        assert {"architecture": "nafnet", **extracted.config} == mine
        return
    skip = {"block_experts", "moe_blocks_per_stage", "connection", "expert_block"}
    assert {k: v for k, v in mine.items() if k not in skip} == {
        k: v for k, v in theirs.items() if k not in skip
    }


def test_small_profile_models_are_small_and_distinct():
    sizes = {}
    for name in ("baseline_aio", "baseline_original_arch", "ablation_width64", "ablation_middle12"):
        model = resolve_config(name, PROFILES["config"]).model
        net = build_model(model_config(model.preset, **model.overrides))
        sizes[name] = sum(p.numel() for p in net.parameters())
    assert len(set(sizes.values())) == len(sizes)
    assert max(sizes.values()) < 5_000_000


def test_per_experiment_profile_overrides():
    profile = {**PROFILES["config"], "experiments": {"small": {"demoe": {"schedule.steps": 7}}}}
    assert resolve_dict("demoe", profile)["schedule"]["steps"] == 7
    # Another profile's block never applies (Snakemake deep-merges config files).
    other = {**profile, "profile": "paper"}
    assert (
        resolve_dict("demoe", other)["schedule"]["steps"]
        == PROFILES["config"]["settings"]["schedule"]["steps"]
    )
    bad = {**PROFILES["config"], "experiments": {"small": {"demoe": {"schedule.stepz": 7}}}}
    with pytest.raises(ConfigError, match="schedule.stepz"):
        resolve_dict("demoe", bad)


def test_stage_profile_overrides_and_experiment_precedence():
    block = {"stage2": {"schedule.steps": 9}, "demoe": {"schedule.steps": 7}}
    profile = {**PROFILES["config"], "experiments": {"small": block}}
    assert resolve_dict("demoe", profile)["schedule"]["steps"] == 7  # its own entry wins
    assert resolve_dict("ablation_residual", profile)["schedule"]["steps"] == 9  # its stage's
    default = PROFILES["config"]["settings"]["schedule"]["steps"]
    plain = {**PROFILES["config"], "experiments": {"small": {}}}
    assert (
        resolve_dict("baseline_aio", profile)["schedule"]["steps"]
        == resolve_dict("baseline_aio", plain)["schedule"]["steps"]
    )
    assert default is not None
    typo = {**PROFILES["config"], "experiments": {"small": {"stage3": {"schedule.steps": 1}}}}
    with pytest.raises(ConfigError, match="stage3"):
        resolve_dict("demoe", typo)


def test_cli_resolves_and_trains(tmp_path, capsys):
    assert main(["train-config", "demoe", "--profile", str(ROOT / "config/config.yaml")]) == 0
    assert "experiment: demoe" in capsys.readouterr().out
    config = toy_config(write_toy_aioblur(tmp_path / "toy"), tmp_path, preset="nafnet")
    write_config(config, tmp_path / "c.yaml")
    assert main(["train", str(tmp_path / "c.yaml"), "schedule.steps=2"]) == 0
    assert (tmp_path / "model" / "model.safetensors").is_file()
    assert main(["train", "no_such_experiment"]) == 2
