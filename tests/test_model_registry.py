"""Architectures register themselves: a model in its own module of demoe/models/ (a
compared method) is built by name and by preset without an edit of the registry."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch
from torch import nn

from demoe.errors import ConfigError
from demoe.models import registry
from demoe.models.registry import (
    architectures,
    create_model,
    model_to_config,
    register_architecture,
)


class _TinyNet(nn.Module):
    def __init__(self, width: int = 4) -> None:
        super().__init__()
        self.config = {"width": width}
        self.body = nn.Conv2d(3, 3, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


@pytest.fixture
def tiny() -> Iterator[type[nn.Module]]:
    cls = register_architecture("tinynet", presets={"tinynet_wide": {"width": 8}})(_TinyNet)
    yield cls
    del registry.ARCHITECTURES["tinynet"], registry.PRESETS["tinynet_wide"]


def test_a_registered_architecture_builds_by_name_and_preset(tiny) -> None:
    assert architectures()["tinynet"] is tiny
    model = create_model("tinynet_wide")
    assert isinstance(model, tiny) and model.config == {"width": 8}
    assert model_to_config(model) == {"architecture": "tinynet", "width": 8}
    assert create_model("tinynet", width=2).config == {"width": 2}


def test_a_taken_name_is_refused(tiny) -> None:
    class Other(_TinyNet):
        pass

    with pytest.raises(ConfigError, match="already"):
        register_architecture("tinynet")(Other)
    with pytest.raises(ConfigError, match="preset 'demoe' is already taken"):
        register_architecture("other", presets={"demoe": {}})(Other)
    assert "other" not in architectures()


def test_the_built_ins_are_found() -> None:
    assert {"demoe", "nafnet", "task_ensemble"} <= set(architectures())
    with pytest.raises(ConfigError, match="unknown model"):
        create_model("no_such_model")
