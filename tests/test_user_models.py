"""The user's own model (config ``models:``) as one more row: imported and checked at DAG
build, one-line errors naming the key, trained and evaluated like a compared method, and
rebuilt from its saved config by importing the named module only."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from demoe.errors import ConfigError
from demoe.experiments import catalogue
from demoe.experiments.paper_tables import needed_evaluations, table_specs
from demoe.models import registry
from demoe.models.checkpoint import save_model
from demoe.models.user import user_architecture
from demoe.workflow import USER_METHODS, TableJobs, register_user_models

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = "examples.small_unet.net:SmallUNet"


@pytest.fixture
def on_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The repository root and a scratch package folder on sys.path."""
    monkeypatch.syspath_prepend(str(REPO))
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path


@pytest.fixture
def registered(on_path: Path) -> Iterator[list]:
    methods = register_user_models(
        {"mynet": {"class": EXAMPLE, "kwargs": {"width": 4}, "paper_name": "MyNet"}}
    )
    yield methods
    catalogue.remove_experiment("mynet_aio")
    registry.PRESETS.pop("mynet")
    registry.ARCHITECTURES.pop(user_architecture(EXAMPLE))
    USER_METHODS.pop("mynet_aio")


def _write(folder: Path, name: str, text: str) -> None:
    (folder / f"{name}.py").write_text(text, encoding="utf-8")


def test_a_user_model_is_an_experiment_with_rows_in_tables_1_and_2(registered) -> None:
    (method,) = registered
    assert method.experiment == "mynet_aio" and not method.reported
    exp = catalogue.EXPERIMENTS["mynet_aio"]
    assert exp.stage == catalogue.COMPARED_STAGE and exp.preset == "mynet"
    cfg = catalogue.resolve_dict("mynet_aio", _small_profile())
    assert cfg["model"] == {**cfg["model"], "preset": user_architecture(EXAMPLE)}
    assert cfg["model"]["overrides"] == {"width": 4}  # a user's model is never shrunk
    specs = table_specs(compared=registered)
    for table in ("table1_aio_deblurring", "table2_ood"):
        rows = [r for r in specs[table].rows if r.experiment == "mynet_aio"]
        assert [(r.label, r.reported_as) for r in rows] == [("MyNet (trained on AIO-Blur)", None)]
    plan = needed_evaluations(specs.values())
    assert {e.dataset for e in plan if e.experiment == "mynet_aio"} >= {"gopro", "realdof"}
    jobs = TableJobs(specs, [], {}, {}, "results", REPO / "config" / "reported")
    assert [m.experiment for m in jobs.compared] == ["mynet_aio"]


def test_saved_config_names_the_class(registered, tmp_path: Path) -> None:
    model = registry.create_model("mynet")
    folder = save_model(model, tmp_path / "m")
    config = json.loads((folder / "config.json").read_text())
    assert config["architecture"] == user_architecture(EXAMPLE) and config["width"] == 4
    # the constructor arguments: config.json less its metadata and "_" bookkeeping keys
    again = registry.build_model(
        {k: v for k, v in config.items() if k != "metadata" and not k.startswith("_")}
    )
    assert again.state_dict().keys() == model.state_dict().keys()


def test_a_fresh_process_rebuilds_it_from_the_class_path() -> None:
    code = (
        "from demoe.models.registry import build_model; import torch; "
        f"m = build_model({{'architecture': '{user_architecture(EXAMPLE)}', 'width': 4}}); "
        "print(tuple(m(torch.rand(1, 3, 20, 20)).shape))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=False
    )
    assert out.stdout.strip() == "(1, 3, 20, 20)", out.stderr


@pytest.mark.parametrize(
    ("source", "cls", "message"),
    [
        (None, "nosuchmodule_h3:Net", "models.bad.class: cannot import 'nosuchmodule_h3'"),
        ("x = 1\n", "badmod_a:Net", "models.bad.class: 'badmod_a:Net' is not a torch.nn.Module"),
        (
            "from torch import nn\nclass Net(nn.Module):\n"
            "    def forward(self, x):\n        return x\n",
            "badmod_b:Net",
            "models.bad.class: the model has no parameters",
        ),
        (
            "from torch import nn\nclass Net(nn.Module):\n    def __init__(self):\n"
            "        super().__init__()\n        self.c = nn.Conv2d(3, 3, 3, stride=2)\n"
            "    def forward(self, x):\n        return self.c(x)\n",
            "badmod_c:Net",
            r"models.bad.class: a \[1, 3, 32, 32\] input gives \[1, 3, 15, 15\]",
        ),
        (None, "not a path", "models.bad.class: 'not a path' is not 'package.module:Class'"),
    ],
)
def test_bad_classes_are_refused_naming_the_key(on_path, source, cls, message) -> None:
    if source is not None:
        _write(on_path, cls.split(":")[0], source)
    with pytest.raises(ConfigError, match=message):
        register_user_models({"bad": {"class": cls}})
    assert "bad_aio" not in catalogue.EXPERIMENTS


def test_a_key_taken_by_a_preset_is_refused(on_path) -> None:
    with pytest.raises(ConfigError, match="models.nafnet: 'nafnet' is already a model preset"):
        register_user_models({"nafnet": {"class": EXAMPLE}})


def test_the_example_restores_any_size(on_path) -> None:
    from examples.small_unet.net import SmallUNet

    x = torch.rand(1, 3, 33, 47)
    assert SmallUNet(width=4)(x).shape == x.shape


def _small_profile() -> dict:
    import yaml

    return yaml.safe_load((REPO / "config" / "config.yaml").read_text())["train"]
