"""The user's own architectures (config ``models:``), named by their import path.

A user's network is a ``torch.nn.Module`` class in an importable module (the repository
root or ``PYTHONPATH``), written ``"package.module:Class"``. Its architecture name is
``"user:package.module:Class"``: a saved ``config.json`` holding it rebuilds the model in
any process by importing that module, and nothing else is ever executed (no pickles, no
evaluated strings). The class registered is a subclass that records its constructor
arguments in ``self.config`` (what :func:`demoe.models.registry.model_to_config` saves), with
the same parameters and state_dict keys as the user's class.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from demoe.errors import ConfigError

#: Architecture names of user classes start with this.
USER_PREFIX = "user:"
#: The input a user's model is tried on before training: one 3-channel 32 x 32 image.
PROBE_SHAPE: tuple[int, int, int, int] = (1, 3, 32, 32)


def user_architecture(class_path: str) -> str:
    """The architecture name of the class at ``class_path`` ("module:Class")."""
    return f"{USER_PREFIX}{class_path}"


def import_user_class(class_path: str, key: str) -> type[nn.Module]:
    """The ``nn.Module`` class at ``class_path`` ("package.module:Class"), imported;
    ConfigError naming ``key`` when the path is malformed, the module does not import or
    the attribute is not an ``nn.Module`` class."""
    module_name, sep, qualname = str(class_path).partition(":")
    parts = [*module_name.split("."), *qualname.split(".")]
    if not sep or not all(p.isidentifier() for p in parts):
        raise ConfigError(f"{key}: {class_path!r} is not 'package.module:Class'")
    try:
        obj: Any = importlib.import_module(module_name)
    except Exception as exc:  # any failure of the user's module is a config error here
        raise ConfigError(
            f"{key}: cannot import {module_name!r} (is it on sys.path: the repository root "
            f"or PYTHONPATH?): {type(exc).__name__}: {exc}"
        ) from exc
    for part in qualname.split("."):
        obj = getattr(obj, part, None)
    if not (isinstance(obj, type) and issubclass(obj, nn.Module)):
        raise ConfigError(f"{key}: {class_path!r} is not a torch.nn.Module class")
    return obj


@functools.cache
def user_class(class_path: str) -> type[nn.Module]:
    """The class registered for architecture ``user:<class_path>``: the user's class,
    recording its keyword arguments in ``self.config``."""
    base = import_user_class(class_path, f"architecture {user_architecture(class_path)!r}")

    def __init__(self: nn.Module, **kwargs: Any) -> None:
        base.__init__(self, **kwargs)
        self.config = dict(kwargs)

    return type(
        base.__name__,
        (base,),
        {"__init__": __init__, "__module__": base.__module__, "__doc__": base.__doc__},
    )


def check_user_model(cls: type[nn.Module], kwargs: Mapping[str, Any], key: str) -> None:
    """Build ``cls(**kwargs)`` and try it on a :data:`PROBE_SHAPE` image: ConfigError
    naming ``key`` when it cannot be built, has no parameters, fails or returns another
    shape than its input's."""
    try:
        model = cls(**kwargs)
    except Exception as exc:  # the user's constructor: any failure is a config error
        raise ConfigError(f"{key}: cannot build it with {dict(kwargs)}: {exc}") from exc
    if not any(p.numel() for p in model.parameters()):
        raise ConfigError(f"{key}: the model has no parameters to train")
    x = torch.rand(PROBE_SHAPE)
    try:
        with torch.no_grad():
            y = model.eval()(x)
    except Exception as exc:  # the user's forward
        raise ConfigError(
            f"{key}: the forward of a {list(PROBE_SHAPE)} input fails: {exc}"
        ) from exc
    if not isinstance(y, torch.Tensor) or y.shape != x.shape:
        got = list(y.shape) if isinstance(y, torch.Tensor) else type(y).__name__
        raise ConfigError(
            f"{key}: a {list(PROBE_SHAPE)} input gives {got}; a restoration model must return "
            "a tensor of its input's shape"
        )
