"""Training configuration: a typed, nested :class:`TrainConfig` loaded from YAML.

A config file holds every section below, nothing more and nothing less: an unknown
key or a missing one is a :class:`~demoe.errors.ConfigError` naming the dotted key
(``optim.lrr``), so a typo never silently falls back to a default. ``key=value``
overrides use the same dotted names; values are parsed as YAML (``optim.betas=[0.9,0.9]``).

The paper's recipe (App. C): AdamW with β = (0.9, 0.9), learning rate 1e-3 annealed by a
cosine to 1e-7, 384 × 384 crops with flips, global batch 32, 400 epochs per stage; and
(Sec. 3.4) loss L1 + λ·CE(router, task) with λ = 0.001 in stage 1, L1 alone in stage 2.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from demoe.errors import ConfigError
from demoe.io.atomic import write_text
from demoe.tasks import DATASETS, TASKS, resolve_task

#: Module groups of the NAFNet/DeMoE U-Net that can be frozen (see ``demoe.train.stages``).
MODULE_GROUPS: tuple[str, ...] = (
    "intro",
    "encoders",
    "downs",
    "mlp_branch",
    "middle_blks",
    "ups",
    "decoders",
    "experts",
    "ending",
)
#: Settings that change how a run is watched, not what it computes (the trainer keeps them
#: out of the training identity; the DAG passes them outside the params it hashes).
BOOKKEEPING_KEYS: tuple[str, ...] = (
    "data.num_workers",
    "run.checkpoint_every",
    "run.keep_checkpoints",
    "run.log_every",
    "run.val_every",
    "run.progress",
    "run.max_bad_steps",
)
#: ``run.device``: auto (cuda:<local rank> when a GPU is present, else cpu), cpu, cuda,
#: cuda:N or mps; the workflow schema has the same pattern.
DEVICE_PATTERN = re.compile(r"auto|cpu|mps|cuda(:[0-9]+)?")


@dataclass
class ModelSection:
    """Architecture (a registry preset + constructor overrides) and training-time routing."""

    preset: str
    overrides: dict[str, Any]
    gating: Literal["auto", "soft", "topk"]  # "soft" = Eq. 2 during training
    router_noise: float  # std of noise on router logits while training (Fig. 6 ablation)
    task: str  # "auto" (router) or a task / alias selecting one expert by hand (Table 3)


@dataclass
class InitSection:
    """Initial weights: none, a stage-1 baseline expanded into every expert, a copy, or
    a DeMoE's k=1 network through one expert (DeMoE*, Table 3)."""

    source: str | None  # model folder (demoe.io.checkpoint layout) or None
    mode: Literal["expand", "copy", "expert"]
    expert: str | None = None  # mode "expert": the task whose expert is taken


@dataclass
class FreezeSection:
    groups: list[str]  # module groups whose parameters are not trained
    trainable_experts: list[int] | None  # if set, only these expert indices train


@dataclass
class LossSection:
    lambda_cls: float  # weight of CE(router logits, task label); 0.001 in the paper


@dataclass
class DataSection:
    train_manifest: str
    val_manifest: str
    datasets: list[str]  # datasets used for training and validation
    crop: int
    flips: bool
    batch_size: int  # global batch, split evenly over the DDP processes
    balance: Literal["none", "task"]  # "none": the Table 4-balanced manifest, shuffled
    num_workers: int
    val_per_dataset: int  # whole test images per dataset used for validation
    # Decoded training store (demoe.data.store) built by the rule prepare_train_store;
    # None = decode the image files for every crop. Same batches either way.
    store: str | None = None


@dataclass
class ScheduleSection:
    """Length of training: exactly one of ``steps`` or ``epochs``."""

    steps: int | None
    epochs: float | None


@dataclass
class OptimSection:
    lr: float
    min_lr: float
    betas: list[float]
    weight_decay: float
    eps: float
    grad_clip: float | None  # max global gradient norm; None = no clipping
    # Micro-batches accumulated into one update: each process computes
    # data.batch_size / (processes × grad_accum) crops at a time, so the global batch
    # (32 in App. C) holds on fewer GPUs than the paper's four.
    grad_accum: int = 1


@dataclass
class RunSection:
    seed: int
    device: str  # "auto", "cpu", "cuda", "cuda:1" …
    amp: Literal["auto", "bf16", "fp16", "none"]  # auto = bf16 on CUDA, none on CPU
    channels_last: bool
    checkpoint_every: int  # steps between checkpoints (0 = only the final one)
    keep_checkpoints: int
    val_every: int  # steps between validations (0 = only at the end)
    log_every: int
    max_bad_steps: int  # consecutive non-finite losses before training stops
    progress: bool
    # Seed of the initial weights; None = ``seed``, which also seeds the data order,
    # crops and flips. A seed control under a shared initialisation keeps its model's
    # initial weights and changes only the data seed (demoe.experiments.catalogue).
    init_seed: int | None = None

    @property
    def weights_seed(self) -> int:
        """The seed the initial weights are drawn from."""
        return self.seed if self.init_seed is None else self.init_seed


@dataclass
class TrainConfig:
    experiment: str
    description: str
    output: str  # model folder written at the end
    checkpoint_dir: str
    model: ModelSection
    init: InitSection
    freeze: FreezeSection
    loss: LossSection
    data: DataSection
    schedule: ScheduleSection
    optim: OptimSection
    run: RunSection
    extra: dict[str, Any] = field(default_factory=dict)  # free-form provenance metadata

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def validate(self) -> TrainConfig:
        """Value checks beyond types; raises ConfigError naming the key."""
        checks = [
            ("data.crop", self.data.crop >= 8),
            ("data.batch_size", self.data.batch_size >= 1),
            ("data.num_workers", self.data.num_workers >= 0),
            ("data.val_per_dataset", self.data.val_per_dataset >= 0),
            ("optim.lr", 0 < self.optim.lr < math.inf),
            ("optim.min_lr", 0 <= self.optim.min_lr <= self.optim.lr),
            (
                "optim.betas",
                len(self.optim.betas) == 2 and all(0 <= b < 1 for b in self.optim.betas),
            ),
            ("optim.weight_decay", 0 <= self.optim.weight_decay < math.inf),
            ("optim.eps", 0 < self.optim.eps < math.inf),
            ("optim.grad_clip", self.optim.grad_clip is None or self.optim.grad_clip > 0),
            ("optim.grad_accum", self.optim.grad_accum >= 1),
            ("loss.lambda_cls", 0 <= self.loss.lambda_cls < math.inf),
            ("model.router_noise", 0 <= self.model.router_noise < math.inf),
            ("run.device", DEVICE_PATTERN.fullmatch(self.run.device) is not None),
            ("run.checkpoint_every", self.run.checkpoint_every >= 0),
            ("run.keep_checkpoints", self.run.keep_checkpoints >= 1),
            ("run.val_every", self.run.val_every >= 0),
            ("run.log_every", self.run.log_every >= 1),
            ("run.max_bad_steps", self.run.max_bad_steps >= 1),
        ]
        for key, ok in checks:
            if not ok:
                raise ConfigError(f"invalid value for {key}: {_get(self.to_dict(), key)!r}")
        if self.data.batch_size % self.optim.grad_accum:
            raise ConfigError(
                f"data.batch_size {self.data.batch_size} is not divisible by "
                f"optim.grad_accum {self.optim.grad_accum}"
            )
        if (self.schedule.steps is None) == (self.schedule.epochs is None):
            raise ConfigError("schedule: set exactly one of schedule.steps and schedule.epochs")
        length = self.schedule.steps if self.schedule.steps is not None else self.schedule.epochs
        if not 0 < length < math.inf:
            raise ConfigError(f"schedule length must be positive and finite, got {length}")
        self._validate_names()
        check_batch_memory(self)
        return self

    def _validate_names(self) -> None:
        for group in self.freeze.groups:
            if group not in MODULE_GROUPS:
                raise ConfigError(
                    f"freeze.groups: unknown group {group!r}; valid: {', '.join(MODULE_GROUPS)}"
                )
        for idx in self.freeze.trainable_experts or []:
            if not 0 <= idx < len(TASKS):
                raise ConfigError(f"freeze.trainable_experts: no expert {idx}")
        for name in self.data.datasets:
            if name not in DATASETS:
                raise ConfigError(
                    f"data.datasets: unknown dataset {name!r}; valid: {', '.join(DATASETS)}"
                )
        if not self.data.datasets:
            raise ConfigError("data.datasets: at least one dataset is needed")
        if self.model.task != "auto":
            try:
                resolve_task(self.model.task)
            except ValueError as exc:
                raise ConfigError(f"model.task: {exc}") from exc
        if self.init.mode == "expert":
            try:
                resolve_task(self.init.expert or "")
            except ValueError as exc:
                raise ConfigError(f"init.expert (needed by init.mode 'expert'): {exc}") from exc


#: Host bytes of a training crop per float32 RGB crop byte (``crop² × 3 × 4``): on the CPU
#: the training step's activations are host memory (a forward and backward pass of the
#: smallest DeMoE, width 8, on 256 × 256 crops peaks at about 1100 crops' worth), so 64 is
#: far below any real need; on a GPU the host holds the batch's blurry and sharp crops
#: and the next, prefetched batch (4). Only a batch that cannot fit is refused.
BATCH_MEMORY_FACTOR = {"cpu": 64, "gpu": 4}


def host_memory_bytes() -> int:
    """Physical memory of this machine, or the cgroup's limit when it is lower."""
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    try:
        limit = Path("/sys/fs/cgroup/memory.max").read_text(encoding="utf-8").strip()
    except OSError:
        return total
    return min(total, int(limit)) if limit.isdigit() else total


def check_batch_memory(config: TrainConfig, memory: int | None = None) -> None:
    """ConfigError naming ``data.crop`` and ``data.batch_size`` when one global batch would
    need more than ``memory`` bytes (default: :func:`host_memory_bytes`), estimated as
    ``crop² × 3 × 4 × BATCH_MEMORY_FACTOR × batch_size``."""
    memory = host_memory_bytes() if memory is None else memory
    factor = BATCH_MEMORY_FACTOR["cpu" if config.run.device == "cpu" else "gpu"]
    need = config.data.crop**2 * 3 * 4 * factor * config.data.batch_size
    if need > memory:
        raise ConfigError(
            f"data.crop {config.data.crop} with data.batch_size {config.data.batch_size} "
            f"needs about {need / 2**30:.1f} GiB on run.device {config.run.device}, more than "
            f"this machine's {memory / 2**30:.1f} GiB: lower data.crop or data.batch_size"
        )


def from_dict(obj: Any) -> TrainConfig:
    """Build and validate a TrainConfig; unknown, missing or mistyped keys → ConfigError."""
    return _build(TrainConfig, obj, "").validate()


def load_config(path: str | Path, overrides: list[str] | None = None) -> TrainConfig:
    """Read a YAML config and apply ``key=value`` overrides (dotted keys)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"training config not found: {path}")
    try:
        obj = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    return from_dict(apply_overrides(obj, overrides or []))


def dump_config(config: TrainConfig) -> str:
    return yaml.safe_dump(config.to_dict(), sort_keys=False)


def write_config(config: TrainConfig, path: str | Path) -> None:
    """Write the (validated) config as YAML, atomically."""
    write_text(path, dump_config(config))


def apply_overrides(obj: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Return a copy of ``obj`` with each ``a.b.c=value`` set; the key must already exist
    or be an optional key of :class:`TrainConfig` (``optim.grad_accum``), except inside
    free-form dicts (``model.overrides`` and ``extra``)."""
    out = _deepcopy(obj)
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"override {item!r} is not of the form key=value")
        try:
            value = yaml.safe_load(raw)
        except yaml.YAMLError as exc:
            raise ConfigError(f"override {item!r}: value is not valid YAML: {exc}") from exc
        _set(out, key.strip(), value)
    return out


def _set(obj: dict[str, Any], key: str, value: Any) -> None:
    parts = key.split(".")
    node = obj
    for i, part in enumerate(parts[:-1]):
        if not isinstance(node, dict) or part not in node:
            raise ConfigError(f"override: unknown key {'.'.join(parts[: i + 1])!r}")
        node = node[part]
    free_form = key.startswith(("model.overrides.", "extra.")) or key in _optional_keys()
    if not isinstance(node, dict) or (parts[-1] not in node and not free_form):
        raise ConfigError(f"override: unknown key {key!r}")
    node[parts[-1]] = value


def _optional_keys(cls: type = TrainConfig, prefix: str = "") -> set[str]:
    """Dotted keys of ``cls`` that have a default (a config file may leave them out)."""
    keys = set()
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        if f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING:
            keys.add(prefix + f.name)
        elif dataclasses.is_dataclass(hints[f.name]):
            keys |= _optional_keys(hints[f.name], f"{prefix}{f.name}.")
    return keys


def _get(obj: dict[str, Any], key: str) -> Any:
    for part in key.split("."):
        obj = obj[part]
    return obj


def _deepcopy(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _deepcopy(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_deepcopy(v) for v in obj]
    return obj


def _build(cls: type, obj: Any, prefix: str) -> Any:
    where = prefix.rstrip(".") or "config"
    if not isinstance(obj, dict):
        raise ConfigError(f"{where} must be a mapping, got {type(obj).__name__}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(obj) - set(fields))
    if unknown:
        raise ConfigError(
            f"unknown key {prefix + unknown[0]!r} in {where}; valid: {', '.join(fields)}"
        )
    kwargs = {}
    for name, f in fields.items():
        if name not in obj:
            if f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING:
                continue
            raise ConfigError(f"missing key {prefix + name!r}")
        kwargs[name] = _convert(hints[name], obj[name], f"{prefix}{name}")
    return cls(**kwargs)


def _convert(tp: Any, value: Any, key: str) -> Any:
    if dataclasses.is_dataclass(tp):
        return _build(tp, value, key + ".")
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return _convert(inner[0], value, key)
    if origin is Literal:
        if value not in args:
            raise ConfigError(f"{key}: {value!r} is not one of {', '.join(map(str, args))}")
        return value
    if origin is list:
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{key}: expected a list, got {value!r}")
        return [_convert(args[0], v, f"{key}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{key}: expected a mapping, got {value!r}")
        return dict(value)
    return _scalar(tp, value, key)


def _scalar(tp: Any, value: Any, key: str) -> Any:
    if tp is Any:
        return value
    if tp is float and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if tp is float and isinstance(value, str):
        return _float_string(value, key)
    if tp is int and isinstance(value, int) and not isinstance(value, bool):
        return value
    if tp in (str, bool) and isinstance(value, tp):
        return value
    raise ConfigError(f"{key}: expected {tp.__name__}, got {value!r}")


def _float_string(value: str, key: str) -> float:
    """YAML 1.1 reads ``1e-3`` (no dot) as a string; accept it as the number it means."""
    try:
        return float(value)
    except ValueError:
        raise ConfigError(f"{key}: expected float, got {value!r}") from None
