"""Every model the paper trains, as named experiments: the one source of truth.

The Snakemake rules (``workflow/rules/train.smk``) and the tests derive the experiment
list from :data:`EXPERIMENTS`. An experiment fixes *what* is trained (architecture at
paper scale, stage, initialisation, loss, data, what is frozen, routing); a profile
(the ``train:`` section of ``config/config.yaml`` or ``config/paper.yaml``) fixes *how
long and how big* (crop, batch, schedule, optimiser, hardware, model scale).
:func:`resolve_config` combines the two into a :class:`~demoe.train.config.TrainConfig`.

Readings of the paper that are ours (it does not spell them out):

* Table 3 DeMoE* (``demoe_star_<dataset>``): the trained ``demoe`` with only the expert
  of the dataset's task fine-tuned on that dataset alone, that expert selected by hand
  (``task=<task>``); everything else, router included, stays frozen.
* Table 5 architecture ablations go through the same two stages as DeMoE. Variants
  whose encoder differs from ``baseline_aio`` (width 64, more middle blocks) get their
  own stage-1 baseline; the others start from ``baseline_aio``. "More MoE blocks" stacks
  two MoE blocks per stage (each initialised from the stage-1 block at its stage) and
  "more middle blocks" doubles them (2 → 4).
* Fig. 6 (right) "noise in the router": Gaussian noise (std 1) on the router logits
  during stage-2 training.
* Table 7 expert blocks (``table7_<block>``): stage 2 from ``baseline_aio`` like DeMoE,
  every expert a DarkIR / wavelet / Restormer / PLK block. Only NAFBlock experts can copy
  the stage-1 block; the others keep their own initialisation and are trained from
  scratch in stage 2, the rest of the network (encoder, router, decoder) coming from
  ``baseline_aio`` (``demoe.train.stages.expand_baseline``).
"""

from __future__ import annotations

import inspect
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from demoe.errors import ConfigError
from demoe.models.experts import TABLE7_EXPERT_BLOCKS
from demoe.models.registry import ARCHITECTURES, model_config
from demoe.tasks import AIO_BLUR, DATASETS, task_index
from demoe.train.config import MODULE_GROUPS, TrainConfig, apply_overrides, from_dict

#: Default frozen groups of stage 2 (see ``demoe.train.stages``).
STAGE2_FROZEN: tuple[str, ...] = ("intro", "encoders", "downs", "mlp_branch")
#: Everything but the experts (DeMoE*, Table 3).
ALL_BUT_EXPERTS: tuple[str, ...] = tuple(g for g in MODULE_GROUPS if g != "experts")
LAMBDA_CLS = 0.001  # Sec. 3.3
#: Profile sections; the rest of a TrainConfig comes from the experiment.
PROFILE_SECTIONS: tuple[str, ...] = ("data", "schedule", "optim", "run")


@dataclass(frozen=True)
class Experiment:
    """One trained model. ``model`` are paper-scale constructor overrides of ``preset``."""

    name: str
    description: str
    preset: str
    stage: str  # "single" (one dataset), "stage1", "stage2", "scratch", "task_specific"
    model: Mapping[str, Any] = field(default_factory=dict)
    init_from: str | None = None
    init_mode: str = "expand"
    lambda_cls: float = 0.0
    datasets: tuple[str, ...] = AIO_BLUR
    frozen: tuple[str, ...] = ()
    trainable_experts: tuple[int, ...] | None = None
    gating: str = "auto"  # soft mixing (Eq. 2) in training, top-k at inference
    router_noise: float = 0.0
    task: str = "auto"


def _nafnet(dataset: str) -> Experiment:
    return Experiment(
        name=f"nafnet_{dataset}",
        description=f"NAFNet trained on {DATASETS[dataset].display} only (Sec. 3.1, Fig. 2/7/9)",
        preset="nafnet",
        stage="single",
        datasets=(dataset,),
    )


def _stage1(
    name: str, description: str, lambda_cls: float = LAMBDA_CLS, **model: Any
) -> Experiment:
    return Experiment(
        name=name,
        description=description,
        preset="demoe_baseline",
        stage="stage1",
        model=MappingProxyType(model),
        lambda_cls=lambda_cls,
    )


def _stage2(name: str, description: str, init_from: str = "baseline_aio", **kw: Any) -> Experiment:
    model = MappingProxyType(kw.pop("model", {}))
    kw.setdefault("frozen", STAGE2_FROZEN)
    return Experiment(
        name=name,
        description=description,
        preset="demoe",
        stage="stage2",
        model=model,
        init_from=init_from,
        **kw,
    )


def _demoe_star(dataset: str) -> Experiment:
    task = DATASETS[dataset].task
    return Experiment(
        name=f"demoe_star_{dataset}",
        description=(
            f"DeMoE* (Table 3): expert {task_index(task)} ({task}) of `demoe` fine-tuned "
            f"on {DATASETS[dataset].display}, selected by hand"
        ),
        preset="demoe",
        stage="task_specific",
        init_from="demoe",
        init_mode="copy",
        datasets=(dataset,),
        frozen=ALL_BUT_EXPERTS,
        trainable_experts=(task_index(task),),
        task=task,
    )


def _all() -> dict[str, Experiment]:
    exps = [_nafnet(d) for d in AIO_BLUR]
    exps += [
        _stage1("baseline_aio", "Stage 1 (Sec. 3.3): k=1 network + router, L1 + 0.001·CE"),
        _stage1(
            "baseline_aio_noclass",
            "Stage 1 without the classification loss (λ = 0; Table 6)",
            lambda_cls=0.0,
        ),
        _stage1(
            "baseline_original_arch",
            "Stage 1 with NAFNet's original encoder (1,1,1,28) and 3 blocks per decoder "
            "level (Fig. 13)",
            middle_blk_num=1,
            enc_blk_nums=[1, 1, 1, 28],
            dec_blk_nums=[3, 3, 3, 3],
        ),
        _stage1("baseline_aio_width64", "Stage 1 of the width-64 ablation (Table 5)", width=64),
        _stage1(
            "baseline_aio_middle4",
            "Stage 1 of the more-middle-blocks ablation (Table 5)",
            middle_blk_num=4,
        ),
        _stage2(
            "demoe",
            "DeMoE (Sec. 3.3 stage 2): experts from baseline_aio, encoder + router frozen, "
            "soft gating (Eq. 2); k=1 at inference. Also Fig. 6 'fine-tune MoE decoder'",
        ),
    ]
    exps += [_demoe_star(d) for d in AIO_BLUR]
    exps += [
        Experiment(
            name="ablation_scratch",
            description="Fig. 6 (right): DeMoE trained end to end from scratch (L1 + 0.001·CE)",
            preset="demoe",
            stage="scratch",
            lambda_cls=LAMBDA_CLS,
        ),
        _stage2(
            "ablation_router_noise",
            "Fig. 6 (right): stage 2 with Gaussian noise (std 1) on the router logits",
            router_noise=1.0,
        ),
        _stage2(
            "ablation_finetune_all",
            "Fig. 6 (right): stage 2 fine-tuning the whole pretrained baseline",
            frozen=(),
        ),
        _stage2(
            "ablation_residual",
            "Table 5: MoE output added to its input (residual connection)",
            model={"connection": "residual"},
        ),
        _stage2(
            "ablation_attention",
            "Table 5: MoE output as a sigmoid attention map on its input",
            model={"connection": "attention"},
        ),
        _stage2(
            "ablation_width64",
            "Table 5: width 64",
            init_from="baseline_aio_width64",
            model={"width": 64},
        ),
        _stage2(
            "ablation_middle4",
            "Table 5: 4 middle NAFBlocks instead of 2",
            init_from="baseline_aio_middle4",
            model={"middle_blk_num": 4},
        ),
        _stage2(
            "ablation_moe_blocks",
            "Table 5: two MoE blocks per decoder stage instead of one",
            model={"moe_blocks_per_stage": 2},
        ),
    ]
    # --- Table 7 (App. F): other expert blocks (issue 16) ---
    exps += [
        _stage2(
            table7_experiment(block),
            f"Table 7: stage 2 from baseline_aio with {block} expert blocks, trained from "
            "scratch (only NAFBlock experts can copy the stage-1 block)",
            model={"expert_block": block},
        )
        for block in TABLE7_EXPERT_BLOCKS
    ]
    # --- end Table 7 ---
    return {e.name: e for e in exps}


def table7_experiment(block: str) -> str:
    """The stage-2 experiment of Table 7 whose experts are ``block`` blocks."""
    return f"table7_{block}"


EXPERIMENTS: dict[str, Experiment] = _all()

#: Fig. 6 (right) training strategies → experiment.
TRAINING_STRATEGIES: dict[str, str] = {
    "scratch": "ablation_scratch",
    "router_noise": "ablation_router_noise",
    "finetune_all": "ablation_finetune_all",
    "finetune_moe_decoder": "demoe",
}


def experiment(name: str) -> Experiment:
    if name not in EXPERIMENTS:
        raise ConfigError(f"unknown experiment {name!r}; valid: {', '.join(EXPERIMENTS)}")
    return EXPERIMENTS[name]


def init_chain(name: str) -> list[str]:
    """Experiments ``name`` depends on, nearest first (``demoe_star_x`` → demoe, baseline_aio)."""
    chain = []
    exp = experiment(name)
    while exp.init_from is not None:
        chain.append(exp.init_from)
        exp = experiment(exp.init_from)
    return chain


def scaled_model(exp: Experiment, width_divisor: int = 1, block_divisor: int = 1) -> dict[str, Any]:
    """Full model config of ``exp``; the small profile divides width and block counts
    (rounding up, so 28 encoder blocks stay distinct from 2)."""
    config = model_config(exp.preset, **exp.model)
    full = {**_constructor_defaults(config["architecture"]), **config}
    full["width"] = max(4, full["width"] // width_divisor)
    full["middle_blk_num"] = math.ceil(full["middle_blk_num"] / block_divisor)
    for key in ("enc_blk_nums", "dec_blk_nums"):
        full[key] = [math.ceil(n / block_divisor) for n in full[key]]
    return full


def _constructor_defaults(arch: str) -> dict[str, Any]:
    """Constructor defaults of an architecture, without building it (routing options
    live in the config's ``model`` section, not in the architecture)."""
    params = inspect.signature(ARCHITECTURES[arch]).parameters.values()
    return {
        p.name: p.default
        for p in params
        if p.default is not inspect.Parameter.empty and p.name not in ("gating", "router_noise")
    }


def manifests(results: str) -> dict[str, str]:
    """Where the data rule ``build_aioblur`` writes the AIO-Blur manifests."""
    base = f"{results}/data/manifests"
    return {
        "train": f"{base}/aioblur_train.jsonl",
        "test": f"{base}/aioblur_test.jsonl",
        "ood": f"{base}/aioblur_ood.jsonl",
    }


def model_dir(results: str, name: str) -> str:
    return f"{results}/models/{name}"


def resolve_dict(name: str, profile: Mapping[str, Any], results: str = "results") -> dict[str, Any]:
    """The resolved config of experiment ``name`` under ``profile`` as a plain dict."""
    exp = experiment(name)
    scale = profile.get("model_scale", {})
    model = scaled_model(exp, scale.get("width_divisor", 1), scale.get("block_divisor", 1))
    preset = model.pop("architecture")
    settings = profile.get("settings", {})
    missing = [s for s in PROFILE_SECTIONS if s not in settings]
    if missing:
        raise ConfigError(f"train profile: missing settings section(s) {', '.join(missing)}")
    files = manifests(results)
    obj: dict[str, Any] = {
        "experiment": name,
        "description": exp.description,
        "output": model_dir(results, name),
        "checkpoint_dir": f"{results}/checkpoints/{name}",
        "model": {
            "preset": preset,
            "overrides": model,
            "gating": exp.gating,
            "router_noise": exp.router_noise,
            "task": exp.task,
        },
        "init": {
            "source": model_dir(results, exp.init_from) if exp.init_from else None,
            "mode": exp.init_mode,
        },
        "freeze": {
            "groups": list(exp.frozen),
            "trainable_experts": list(exp.trainable_experts)
            if exp.trainable_experts is not None
            else None,
        },
        "loss": {"lambda_cls": exp.lambda_cls},
        "data": {
            **dict(settings["data"]),
            "train_manifest": files["train"],
            "val_manifest": files["test"],
            "datasets": list(exp.datasets),
        },
        **{s: dict(settings[s]) for s in PROFILE_SECTIONS if s != "data"},
        "extra": {"stage": exp.stage, "init_from": exp.init_from},
    }
    per_exp = profile.get("experiments", {}) or {}
    dotted = [f"{k}={_yaml_value(v)}" for k, v in (per_exp.get(name) or {}).items()]
    return apply_overrides(obj, dotted)


def resolve_config(name: str, profile: Mapping[str, Any], results: str = "results") -> TrainConfig:
    """Experiment definition + profile + per-experiment profile overrides, validated."""
    return from_dict(resolve_dict(name, profile, results))


def _yaml_value(value: Any) -> str:
    return json.dumps(value)  # JSON is YAML: the override parser reads it back exactly
