"""Every model the paper trains, as named experiments: the one source of truth.

The Snakemake rules (``workflow/rules/train.smk``) and the tests derive the experiment
list from :data:`EXPERIMENTS`, with the seed replicates that ``train.replicates`` asks for
(:func:`experiment_names`; replicate ``k`` of ``E`` is ``E_rep<k>``, :func:`experiment`).
An experiment fixes *what* is trained (architecture at paper scale, stage,
initialisation, loss, data, what is frozen, routing); a profile
(the ``train:`` section of ``config/config.yaml`` or ``config/paper.yaml``) fixes *how
long and how big* (crop, batch, schedule, optimiser, hardware, model scale).
:func:`resolve_config` combines the two into a :class:`~demoe.train.config.TrainConfig`.

Readings of the paper that are ours (it does not spell them out):

* The NAFNet baseline (preset ``nafnet``: Table 1 "NAFNet", the per-dataset NAFNets of
  Sec. 3.1 / Figs. 2, 7, 9) is the DeMoE k=1 network without router, 10.08 M (Sec. 3.3:
  with top-1 routing DeMoE "is equivalent to our NAFNet baseline"; see
  ``demoe.models.nafnet``). The stage-1 run ``baseline_aio`` trains it *with* the router
  and the class loss (Sec. 3.4); the per-dataset NAFNets see one dataset and no class
  loss, so they have no router.
* Table 3 DeMoE* (``demoe_star_<dataset>``): DeMoE with one expert in the decoder,
  fine-tuned on one dataset, "equivalent to a single specialized NAFNet" (Sec. 4.3). It is
  that NAFNet, initialised with the trained ``demoe``'s k=1 path through the expert of
  the dataset's task (``init_mode="expert"``, :func:`demoe.models.nafnet_from_expert`) and
  fine-tuned, whole, on that dataset alone. DeMoE-5 (Sec. 5, Fig. 6) is the five of them
  (``demoe.models.TaskEnsemble``).
* Table 5 architecture ablations go through the same two stages as DeMoE. Variants
  whose encoder differs from ``baseline_aio`` (width 64, more middle blocks) get their
  own stage-1 baseline; the others start from ``baseline_aio``. The block counts are
  those that give the paper's sizes (``demoe.models.registry.TABLE5_VARIANTS``): 12
  middle blocks instead of 2 (38.67 M), two MoE blocks per stage (32.54 M, each
  initialised from the stage-1 block at its stage), and the original NAFNet encoder
  (1,1,1,28) with 2 middle and 2 decoder blocks per level + the MoE block (22.07 M
  without router; "three NAFBlocks per decoder layer", App. F).
* Fig. 6 (right) "noise in the router": Gaussian noise (std 1) on the router logits
  during stage-2 training.
* Table 7 expert blocks (``table7_<block>``): stage 2 from ``baseline_aio`` like DeMoE,
  every expert a DarkIR / wavelet / Restormer / PLK block. Only NAFBlock experts can copy
  the stage-1 block; the others keep their own initialisation and are trained from
  scratch in stage 2, the rest of the network (encoder, router, decoder) coming from
  ``baseline_aio`` (``demoe.train.stages.expand_baseline``).
* The compared methods of Table 1 (``<architecture>_aio``: Restormer, PromptIR, FFTformer,
  SFHformer at their official deblurring configurations) are trained here on the
  Table 4-balanced AIO-Blur train set with the L1 loss alone (stage ``compared``). The
  paper trains every method on AIO-Blur "for fairness" (Sec. 4.1) but gives no recipe per
  method; by default each gets DeMoE's stage-1 recipe (the profile's settings and its
  ``stage1`` overrides), ``train.compared_recipe: official`` switches each to its
  official deblurring recipe (:data:`OFFICIAL_RECIPES`).
"""

from __future__ import annotations

import inspect
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any

from demoe import paths
from demoe.errors import ConfigError
from demoe.models.experts import TABLE7_EXPERT_BLOCKS
from demoe.models.registry import SHRINK, TABLE5_VARIANTS, architectures, model_config
from demoe.tasks import AIO_BLUR, DATASETS, OTHER_TASK, task_index
from demoe.train.config import MODULE_GROUPS, TrainConfig, apply_overrides, from_dict

#: Default frozen groups of stage 2 (see ``demoe.train.stages``).
STAGE2_FROZEN: tuple[str, ...] = ("intro", "encoders", "downs", "mlp_branch")
#: Everything but the experts (DeMoE*, Table 3).
ALL_BUT_EXPERTS: tuple[str, ...] = tuple(g for g in MODULE_GROUPS if g != "experts")
LAMBDA_CLS = 0.001  # Sec. 3.4
#: Profile sections; the rest of a TrainConfig comes from the experiment.
PROFILE_SECTIONS: tuple[str, ...] = ("data", "schedule", "optim", "run")


@dataclass(frozen=True)
class Experiment:
    """One trained model. ``model`` are paper-scale constructor overrides of ``preset``."""

    name: str
    description: str
    preset: str
    # "single" (one dataset), "stage1", "stage2", "scratch", "task_specific", "compared"
    stage: str
    model: Mapping[str, Any] = field(default_factory=dict)
    init_from: str | None = None
    init_mode: str = "expand"
    init_expert: str | None = None  # task whose expert init_mode "expert" takes
    lambda_cls: float = 0.0
    datasets: tuple[str, ...] = AIO_BLUR
    frozen: tuple[str, ...] = ()
    trainable_experts: tuple[int, ...] | None = None
    gating: str = "auto"  # soft mixing (Eq. 2) in training, top-k at inference
    router_noise: float = 0.0
    task: str = "auto"
    seed_offset: int = 0  # added to the profile's run.seed (seed controls, Sec. 3.1)
    replicate: int = 0  # seed replicate k: added to run.seed too (train.replicates)
    manifest: str = "train"  # key of :func:`manifests`: training records
    val_manifest: str = "test"  # key of :func:`manifests`: validation records


def _nafnet(dataset: str) -> Experiment:
    return Experiment(
        name=f"nafnet_{dataset}",
        description=(
            f"NAFNet baseline (10.08 M, no router) trained on {DATASETS[dataset].display} "
            "only (Sec. 3.1, Figs. 2/7/9)"
        ),
        preset="nafnet",
        stage="single",
        datasets=(dataset,),
    )


# --- Similarity-study controls and Fig. 8 (analysis helper) -------------------------
#: ``train.per_dataset_init``: where the per-dataset NAFNets of Sec. 3.1 start. The paper
#: says only that they share one architecture (Sec. 3.1 and App. A: NAFNet trained on each
#: dataset); it says nothing about their initial weights or seeds. "shared" (one
#: initialisation, the same run.seed, for all) is our choice: per-filter Pearson
#: correlations above 0.7 (Figs. 2, 7) need a common start point, since independently
#: initialised networks have unrelated filters (their correlation is ~0, as the seed
#: controls of Figs. 2/7/9 under "independent" show). "independent" gives each dataset
#: its own seed.
PER_DATASET_INITS: tuple[str, ...] = ("shared", "independent")
#: Seed offset of the seed-control NAFNets: far from the per-dataset offsets (1..8).
SEED_CONTROL_OFFSET = 1000
SEED_CONTROL_SUFFIX = "_reseed"


def _nafnet_seed_control(dataset: str) -> Experiment:
    return Experiment(
        name=f"nafnet_{dataset}{SEED_CONTROL_SUFFIX}",
        description=(
            f"Seed control of nafnet_{dataset}: the same training on "
            f"{DATASETS[dataset].display} with run.seed + {SEED_CONTROL_OFFSET} (data order, "
            "crops, flips; the initial weights too unless train.per_dataset_init is shared) "
            "(Figs. 2/7/9 controls)"
        ),
        preset="nafnet",
        stage="single",
        datasets=(dataset,),
        seed_offset=SEED_CONTROL_OFFSET,
    )


def experiment_seed(exp: Experiment, profile: Mapping[str, Any]) -> int:
    """run.seed of ``exp``: the profile's seed + ``exp.seed_offset`` + ``exp.replicate``;
    with ``train.per_dataset_init: independent`` a single-dataset experiment adds 1 + the
    index of its dataset in ``demoe.tasks.DATASETS`` (one initialisation per dataset)."""
    mode = profile.get("per_dataset_init", "shared")
    if mode not in PER_DATASET_INITS:
        raise ConfigError(
            f"train.per_dataset_init: {mode!r}; valid: {', '.join(PER_DATASET_INITS)}"
        )
    seed = int(profile["settings"]["run"]["seed"]) + exp.seed_offset + exp.replicate
    if mode == "independent" and exp.stage == "single":
        seed += 1 + list(DATASETS).index(exp.datasets[0])
    return seed


def experiment_init_seed(exp: Experiment, profile: Mapping[str, Any]) -> int | None:
    """run.init_seed of ``exp``: None (the initial weights come from run.seed) except for
    a seed control under ``train.per_dataset_init: shared``, which starts from the initial
    weights of the model it controls and changes only the data seed (order, crops, flips).

    With a shared initialisation every per-dataset NAFNet starts from the same weights, so
    the control that separates "trained on another dataset" from "trained again" is the same
    start on the same dataset with other data draws; a control from other initial weights
    would only show that unrelated initialisations do not correlate filter by filter. With
    ``independent`` the control draws its own initial weights too. A seed replicate of a
    control keeps the initial weights of the same replicate of the model it controls."""
    if exp.seed_offset == 0 or profile.get("per_dataset_init", "shared") != "shared":
        return None
    return experiment_seed(replace(exp, seed_offset=0), profile)


def _nafnet_other_task(dataset: str) -> Experiment:
    """Fig. 8 (App. A): the per-dataset NAFNet trained for another task (low-light
    enhancement on LOLv2-real), from its own manifest (``demoe.data.lolv2``)."""
    return Experiment(
        name=f"nafnet_{dataset}",
        description=(
            f"NAFNet trained on {DATASETS[dataset].display} only: low-light enhancement, "
            "the other task of Fig. 8 (App. A)"
        ),
        preset="nafnet",
        stage="single",
        datasets=(dataset,),
        manifest=dataset,
        val_manifest=dataset,
    )


# --- end of the analysis helper's block ---------------------------------------------


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
            f"DeMoE* (Table 3): the k=1 network of `demoe` through expert "
            f"{task_index(task)} ({task}), no router, fine-tuned on "
            f"{DATASETS[dataset].display}"
        ),
        preset="nafnet",
        stage="task_specific",
        init_from="demoe",
        init_mode="expert",
        init_expert=task,
        datasets=(dataset,),
    )


#: The compared methods of Table 1 trained here: architecture (and preset of the same name,
#: the official deblurring configuration; ``demoe/models/<architecture>.py``).
COMPARED_ARCHITECTURES: tuple[str, ...] = ("restormer", "promptir", "fftformer", "sfhformer")
#: Stage of the compared methods and of the user's own models (config ``models:``).
COMPARED_STAGE = "compared"


def compared_experiment(key: str) -> str:
    """The experiment training compared method or user model ``key`` on AIO-Blur."""
    return f"{key}_aio"


def compared(key: str, preset: str, description: str, **model: Any) -> Experiment:
    """A compared method (or the user's model ``key``): ``preset`` trained on all of
    AIO-Blur (Table 4-balanced) with the L1 loss, no router, no class loss."""
    return Experiment(
        name=compared_experiment(key),
        description=description,
        preset=preset,
        stage=COMPARED_STAGE,
        model=MappingProxyType(model),
    )


def _all() -> dict[str, Experiment]:
    exps = [_nafnet(d) for d in AIO_BLUR]
    exps += [
        _stage1("baseline_aio", "Stage 1 (Sec. 3.4): k=1 network + router, L1 + 0.001·CE"),
        _stage1(
            "baseline_aio_noclass",
            "Stage 1 without the classification loss (λ = 0; Table 5 right)",
            lambda_cls=0.0,
        ),
        _stage1(
            "baseline_original_arch",
            "Stage 1 with NAFNet's original encoder (1,1,1,28), 2 + 1 middle and decoder "
            "blocks per level (Table 5 'original architecture', 22.07 M without router; "
            "Fig. 13)",
            **TABLE5_VARIANTS["original_arch"],
        ),
        _stage1(
            "baseline_aio_width64",
            "Stage 1 of the width-64 ablation (Table 5 left)",
            **TABLE5_VARIANTS["width64"],
        ),
        _stage1(
            "baseline_aio_middle12",
            "Stage 1 of the more-middle-blocks ablation (Table 5 right): 12 middle blocks",
            **TABLE5_VARIANTS["middle12"],
        ),
        _stage2(
            "demoe",
            "DeMoE (Sec. 3.4 stage 2): experts from baseline_aio, encoder + router frozen, "
            "soft gating (Eq. 2); k=1 at inference. Also Fig. 6 'fine-tune MoE decoder'",
        ),
    ]
    exps += [_demoe_star(d) for d in AIO_BLUR]
    exps += [_nafnet_seed_control(d) for d in AIO_BLUR]  # analysis helper: controls
    exps += [_nafnet_other_task(d) for d in OTHER_TASK]  # analysis helper: Fig. 8
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
            "Table 5: input multiplied by the MoE output (attention connection, Eq. 8)",
            model={"connection": "attention"},
        ),
        _stage2(
            "ablation_width64",
            "Table 5: width 64 (79.71 M)",
            init_from="baseline_aio_width64",
            model=TABLE5_VARIANTS["width64"],
        ),
        _stage2(
            "ablation_middle12",
            "Table 5: 12 middle NAFBlocks instead of 2 (38.67 M)",
            init_from="baseline_aio_middle12",
            model=TABLE5_VARIANTS["middle12"],
        ),
        _stage2(
            "ablation_moe_blocks",
            "Table 5: two MoE blocks per decoder stage instead of one (32.54 M)",
            model=TABLE5_VARIANTS["moe_blocks2"],
        ),
    ]
    # --- Table 7 (App. F): other expert blocks ---
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
    exps += [
        compared(
            arch,
            arch,
            f"Table 1 compared method {arch} (official deblurring configuration) trained on "
            "AIO-Blur with the L1 loss (Sec. 4.1: every method trained on AIO-Blur)",
        )
        for arch in COMPARED_ARCHITECTURES
    ]
    return {e.name: e for e in exps}


def table7_experiment(block: str) -> str:
    """The stage-2 experiment of Table 7 whose experts are ``block`` blocks."""
    return f"table7_{block}"


EXPERIMENTS: dict[str, Experiment] = _all()


def add_experiment(exp: Experiment) -> Experiment:
    """Add ``exp`` to :data:`EXPERIMENTS` (the user's own models, config ``models:``);
    ConfigError when its name is taken or ends like a seed replicate."""
    if exp.name in EXPERIMENTS or _REPLICATE_NAME.fullmatch(exp.name):
        raise ConfigError(f"experiment {exp.name!r}: the name is taken")
    EXPERIMENTS[exp.name] = exp
    return exp


def remove_experiment(name: str) -> None:
    """Remove an experiment :func:`add_experiment` added."""
    del EXPERIMENTS[name]


@dataclass(frozen=True)
class OfficialRecipe:
    """A compared method's own deblurring recipe, as far as the trainer expresses it.

    ``optim``: dotted overrides applied under ``train.compared_recipe: official`` in every
    profile; ``length``: schedule length, crop and global batch, applied only at full model
    scale (``train.model_scale`` 1/1, the paper profile: the small profile keeps its own
    length). ``not_applied``: what the official recipe does that the trainer (AdamW,
    per-step cosine to ``optim.min_lr``, L1 loss, one crop size) does not.
    """

    source: str  # the official file the values are read from
    optim: Mapping[str, Any]
    length: Mapping[str, Any]
    not_applied: tuple[str, ...] = ()


#: ``train.compared_recipe``: ``stage1`` (DeMoE's stage-1 recipe for every method, our
#: reading of "for fairness", Sec. 4.1) or ``official`` (:data:`OFFICIAL_RECIPES`).
COMPARED_RECIPES: tuple[str, ...] = ("stage1", "official")

#: The official deblurring recipes of the compared methods (our reading of each file).
OFFICIAL_RECIPES: dict[str, OfficialRecipe] = {
    "restormer": OfficialRecipe(
        source="swz30/Restormer Motion_Deblurring/Options/Deblurring_Restormer.yml",
        optim={
            "optim.lr": 3.0e-4,
            "optim.min_lr": 1.0e-6,
            "optim.betas": [0.9, 0.999],
            "optim.weight_decay": 1.0e-4,
            "optim.grad_clip": 0.01,  # use_grad_clip: BasicSR's clip_grad_norm_ at 0.01
        },
        # 8 GPUs x 8 crops; the progressive schedule ends at 384 px
        length={"schedule.steps": 300000, "data.crop": 384, "data.batch_size": 64},
        not_applied=(
            "CosineAnnealingRestartCyclicLR: lr 3e-4 held for 92k iterations, then a cosine "
            "to 1e-6 over 208k (here one cosine over the whole run)",
            "progressive patches 128-384 px with per-GPU batches 8,5,4,2,1,1 "
            "(iterations 92k,64k,48k,36k,36k,24k; here one crop size and batch)",
            "rotations as augmentation (geometric_augs)",
        ),
    ),
    "promptir": OfficialRecipe(
        source="va1shn9v/PromptIR train.py and options.py",
        optim={
            "optim.lr": 2.0e-4,
            "optim.min_lr": 0.0,
            "optim.betas": [0.9, 0.999],
            "optim.weight_decay": 1.0e-2,  # torch AdamW's default, which train.py keeps
            "optim.grad_clip": None,
        },
        length={"schedule.epochs": 120, "data.crop": 128, "data.batch_size": 32},
        not_applied=(
            "LinearWarmupCosineAnnealingLR: 15 warm-up epochs, cosine over 150 epochs stepped "
            "per epoch, stopped at 120 (here a per-step cosine over the run, no warm-up)",
        ),
    ),
    "fftformer": OfficialRecipe(
        source="kkkls/FFTformer options/train/GoPro.yml",
        optim={
            "optim.lr": 1.0e-3,
            "optim.min_lr": 1.0e-7,
            "optim.betas": [0.9, 0.9],
            "optim.weight_decay": 1.0e-3,
            "optim.grad_clip": None,
        },
        length={"schedule.steps": 300000, "data.crop": 128, "data.batch_size": 16},
        not_applied=(
            "the FFT loss (L1 on the spectra, weight 0.1) beside the L1 loss",
            "rotations as augmentation (use_rot)",
        ),
    ),
    "sfhformer": OfficialRecipe(
        source="deng-ai-lab/SFHformer configs/motion_blur/SFHformer_l.json and "
        "train_for_motion_blur_gopro.py",
        optim={
            "optim.lr": 1.0e-3,
            "optim.min_lr": 1.0e-6,
            "optim.betas": [0.9, 0.999],
            "optim.weight_decay": 1.0e-3,
            "optim.grad_clip": None,
        },
        # 1001 epochs of 1000 batches of 8 crops of 256 px (one DataParallel batch)
        length={"schedule.steps": 1001000, "data.crop": 256, "data.batch_size": 8},
        not_applied=(
            "the FFT loss (L1 on the spectra, weight 0.1) beside the L1 loss",
            "the cosine stepped per epoch of 1000 batches (here per step)",
        ),
    ),
}


def recipe_overrides(exp: Experiment, profile: Mapping[str, Any]) -> dict[str, Any]:
    """Dotted overrides of a compared method's recipe (``train.compared_recipe``): none for
    ``stage1`` (the profile's stage-1 recipe, :func:`profile_overrides`) and for an
    architecture without an official recipe (a user's model), else
    :data:`OFFICIAL_RECIPES` (its ``length`` only at full model scale)."""
    mode = profile.get("compared_recipe", "stage1")
    if mode not in COMPARED_RECIPES:
        raise ConfigError(f"train.compared_recipe: {mode!r}; valid: {', '.join(COMPARED_RECIPES)}")
    if exp.stage != COMPARED_STAGE or mode == "stage1":
        return {}
    recipe = OFFICIAL_RECIPES.get(model_config(exp.preset)["architecture"])
    if recipe is None:
        return {}
    scale = profile.get("model_scale") or {}
    full = scale.get("width_divisor", 1) == 1 and scale.get("block_divisor", 1) == 1
    length = dict(recipe.length) if full else {}
    if "schedule.epochs" in length:
        length["schedule.steps"] = None
    elif "schedule.steps" in length:
        length["schedule.epochs"] = None
    return {**recipe.optim, **length}


#: Fig. 6 (right) training strategies → experiment.
TRAINING_STRATEGIES: dict[str, str] = {
    "scratch": "ablation_scratch",
    "router_noise": "ablation_router_noise",
    "finetune_all": "ablation_finetune_all",
    "finetune_moe_decoder": "demoe",
}


#: Seed replicates of an experiment (``train.replicates: {experiment: n}``): replicate
#: ``k`` (1 ≤ k < n) is ``<experiment>_rep<k>``; replicate 0 is the experiment itself.
#: No catalogue name ends with ``_rep<digits>``, so a replicate name never shadows one.
REPLICATE_SUFFIX = "_rep"
#: Most seed replicates ``train.replicates`` may ask for, the experiment itself included.
MAX_REPLICATES = 20
_REPLICATE_NAME = re.compile(rf"(?P<base>.+){re.escape(REPLICATE_SUFFIX)}(?P<k>[1-9][0-9]*)")


def replicate_names(name: str, replicates: Mapping[str, int] | None) -> list[str]:
    """The seed replicates of ``name`` in seed order, ``name`` first: ``[name,
    name_rep1, …]`` for ``replicates[name]`` = n (one name when absent)."""
    count = int((replicates or {}).get(name, 1))
    return [name, *(f"{name}{REPLICATE_SUFFIX}{k}" for k in range(1, count))]


def replicate_counts(replicates: Any) -> dict[str, int]:
    """``train.replicates`` checked: experiment of :data:`EXPERIMENTS` → number of seed
    replicates, 1 to :data:`MAX_REPLICATES` (the experiment itself included); ConfigError
    naming the key otherwise. None is no replicates."""
    if replicates is None:
        return {}
    if not isinstance(replicates, Mapping):
        raise ConfigError(
            f"train.replicates: expected a mapping experiment -> count, got {replicates!r}"
        )
    counts = {}
    for name, count in replicates.items():
        if name not in EXPERIMENTS:
            raise ConfigError(
                f"train.replicates.{name}: not an experiment of demoe/experiments/catalogue.py "
                f"({', '.join(EXPERIMENTS)})"
            )
        if isinstance(count, bool) or not isinstance(count, int):
            raise ConfigError(f"train.replicates.{name}: {count!r} is not an integer")
        if not 1 <= count <= MAX_REPLICATES:
            raise ConfigError(
                f"train.replicates.{name}: {count} is not between 1 and {MAX_REPLICATES} "
                "(the experiment itself counts as one)"
            )
        counts[name] = count
    return counts


def seed_replicates(config: Mapping[str, Any]) -> dict[str, int]:
    """The seed replicates a run trains and evaluates, from the whole config:
    ``train.replicates`` checked (:func:`replicate_counts`), less the experiments given
    fixed weights (``checkpoints:``), which are not trained and so have no seed to vary
    (the trained children of such an experiment start from its fixed weights)."""
    fixed = config.get("checkpoints") or {}
    counts = replicate_counts((config.get("train") or {}).get("replicates"))
    return {name: n for name, n in counts.items() if name not in fixed}


def replicate_index(name: str) -> tuple[str, int]:
    """``(experiment, k)`` of replicate name ``<experiment>_rep<k>`` whose experiment is in
    the catalogue; ``(name, 0)`` for any other name."""
    match = _REPLICATE_NAME.fullmatch(name)
    if match is None or match["base"] not in EXPERIMENTS:
        return name, 0
    return match["base"], int(match["k"])


def experiment_names(replicates: Mapping[str, int] | None = None) -> list[str]:
    """Every experiment a run trains: the catalogue's, each followed by its seed replicates
    (``replicates``: :func:`seed_replicates`)."""
    counts = replicate_counts(replicates)
    return [r for name in EXPERIMENTS for r in replicate_names(name, counts)]


def experiment(name: str, replicates: Mapping[str, int] | None = None) -> Experiment:
    """Experiment ``name`` of the catalogue, or seed replicate ``k`` of one
    (``<experiment>_rep<k>``, k < ``replicates[<experiment>]``; ``replicates``:
    :func:`seed_replicates`).

    Replicate ``k`` is the same experiment with run.seed + k, which draws both its initial
    weights and its data (order, crops, flips) anew: a seed replicate measures the
    randomness of the whole training, not of one of its sources, so the spread over
    replicates bounds what a difference between two trained models can mean. The paper
    reports one training per model (App. C). Where the experiment starts from another
    (``init_from``) that has a replicate ``k`` too, replicate ``k`` starts from it
    (``demoe_rep1`` is fine-tuned from ``baseline_aio_rep1``: the two stages vary
    together), else from that experiment itself.
    """
    counts = replicate_counts(replicates)
    if name in EXPERIMENTS:
        return EXPERIMENTS[name]
    base, k = replicate_index(name)
    if k == 0 or k >= counts.get(base, 1):
        raise ConfigError(
            f"unknown experiment {name!r}; valid: {', '.join(experiment_names(counts))}"
        )
    exp = EXPERIMENTS[base]
    parent = exp.init_from
    if parent is not None and k < counts.get(parent, 1):
        parent = f"{parent}{REPLICATE_SUFFIX}{k}"
    return replace(
        exp,
        name=name,
        description=f"{exp.description}. Seed replicate {k}: run.seed + {k}"
        + (f", from {parent}" if parent else ""),
        init_from=parent,
        replicate=k,
    )


def init_chain(name: str, replicates: Mapping[str, int] | None = None) -> list[str]:
    """Experiments ``name`` depends on, nearest first (``demoe_star_x`` → demoe, baseline_aio)."""
    chain = []
    exp = experiment(name, replicates)
    while exp.init_from is not None:
        chain.append(exp.init_from)
        exp = experiment(exp.init_from, replicates)
    return chain


def scaled_model(exp: Experiment, width_divisor: int = 1, block_divisor: int = 1) -> dict[str, Any]:
    """Full model config of ``exp``; the small profile divides width and block counts
    (rounding up, so 28 encoder blocks stay distinct from 2). Architectures other than
    NAFNet and DeMoE shrink by their own rule (:data:`demoe.models.registry.SHRINK`); one
    without a rule (a user's model) keeps its configured arguments at every scale."""
    config = model_config(exp.preset, **exp.model)
    arch = config["architecture"]
    if arch not in ("nafnet", "demoe"):
        if arch not in SHRINK or (width_divisor, block_divisor) == (1, 1):
            return config
        full = {**_constructor_defaults(arch), **config}
        return {**SHRINK[arch](full, width_divisor, block_divisor), "architecture": arch}
    full = {**_constructor_defaults(arch), **config}
    full["width"] = max(4, full["width"] // width_divisor)
    full["middle_blk_num"] = math.ceil(full["middle_blk_num"] / block_divisor)
    for key in ("enc_blk_nums", "dec_blk_nums"):
        full[key] = [math.ceil(n / block_divisor) for n in full[key]]
    return full


def _constructor_defaults(arch: str) -> dict[str, Any]:
    """Constructor defaults of an architecture, without building it (routing options
    live in the config's ``model`` section, not in the architecture)."""
    params = inspect.signature(architectures()[arch]).parameters.values()
    return {
        p.name: p.default
        for p in params
        if p.default is not inspect.Parameter.empty and p.name not in ("gating", "router_noise")
    }


def manifests(results: str) -> dict[str, str]:
    """The manifests the data rules write, by key: ``build_aioblur`` the AIO-Blur ones,
    ``build_lolv2`` one per other-task dataset (Fig. 8)."""
    return {
        **{split: paths.aio_manifest(results, split) for split in paths.AIO_MANIFEST_FILES},
        # Fig. 8's other task (train + test records; rule build_lolv2, data.smk)
        **{d: paths.manifest(results, d) for d in OTHER_TASK},
    }


def resolve_dict(
    name: str,
    profile: Mapping[str, Any],
    results: str = "results",
    replicates: Mapping[str, int] | None = None,
) -> dict[str, Any]:
    """The resolved config of experiment ``name`` under ``profile`` as a plain dict;
    ``replicates`` (:func:`seed_replicates`) defaults to the profile's ``replicates``."""
    if replicates is None:
        replicates = profile.get("replicates")
    exp = experiment(name, replicates)
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
        "output": paths.model_dir(results, name),
        "checkpoint_dir": paths.checkpoint_dir(results, name),
        "model": {
            "preset": preset,
            "overrides": model,
            "gating": exp.gating,
            "router_noise": exp.router_noise,
            "task": exp.task,
        },
        "init": {
            "source": paths.model_dir(results, exp.init_from) if exp.init_from else None,
            "mode": exp.init_mode,
            "expert": exp.init_expert,
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
            "store": paths.train_store(results, exp.manifest)
            if settings["data"].get("store")
            else None,
            "train_manifest": files[exp.manifest],
            "val_manifest": files[exp.val_manifest],
            "datasets": list(exp.datasets),
        },
        **{s: dict(settings[s]) for s in PROFILE_SECTIONS if s != "data"},
        "extra": {"stage": exp.stage, "init_from": exp.init_from},
    }
    obj["run"]["seed"] = experiment_seed(exp, profile)
    obj["run"]["init_seed"] = experiment_init_seed(exp, profile)
    overrides = {**recipe_overrides(exp, profile), **profile_overrides(profile, name)}
    dotted = [f"{k}={_yaml_value(v)}" for k, v in overrides.items()]
    return apply_overrides(obj, dotted)


#: Stages of :class:`Experiment` (``Experiment.stage``); also keys of the profile overrides.
STAGES: tuple[str, ...] = (
    "single",
    "stage1",
    "stage2",
    "scratch",
    "task_specific",
    COMPARED_STAGE,
)


def profile_overrides(profile: Mapping[str, Any], name: str) -> dict[str, Any]:
    """Dotted-key overrides of experiment ``name`` in ``profile``: ``experiments[<profile>]``.

    A key of that block is an experiment name or a stage name (:data:`STAGES`: every
    experiment of the stage, so rows compared in one table share a schedule); an
    experiment's own entry wins over its stage's. The overrides are keyed by the profile's
    name (``train.profile``) because Snakemake deep-merges ``--configfile`` files over
    ``config/config.yaml``: a flat mapping of one profile would leak into the other (e.g.
    the small profile's ``schedule.steps`` next to the paper's ``schedule.epochs``). A
    profile only ever reads its own block. A seed replicate trains as its experiment: it
    takes the experiment's overrides. A compared method under ``train.compared_recipe:
    stage1`` (the default) takes the ``stage1`` overrides first (DeMoE's stage-1 recipe),
    then its stage's, then its own.
    """
    blocks = profile.get("experiments") or {}
    own = blocks.get(profile.get("profile")) or {}
    unknown = sorted(set(own) - set(EXPERIMENTS) - set(STAGES))  # a typo must not be ignored
    if unknown:
        raise ConfigError(
            f"train.experiments.{profile.get('profile')}: unknown experiment(s) or stage(s) "
            f"{', '.join(unknown)}; stages: {', '.join(STAGES)}; experiments: "
            f"{', '.join(EXPERIMENTS)}"
        )
    base, _ = replicate_index(name)
    stage = experiment(base).stage
    first = {}
    if stage == COMPARED_STAGE and profile.get("compared_recipe", "stage1") == "stage1":
        first = own.get("stage1") or {}
    return {**first, **(own.get(stage) or {}), **(own.get(base) or {})}


def resolve_config(
    name: str,
    profile: Mapping[str, Any],
    results: str = "results",
    replicates: Mapping[str, int] | None = None,
) -> TrainConfig:
    """Experiment definition + profile + per-experiment profile overrides, validated
    (``replicates``: as :func:`resolve_dict`)."""
    return from_dict(resolve_dict(name, profile, results, replicates))


def _yaml_value(value: Any) -> str:
    return json.dumps(value)  # JSON is YAML: the override parser reads it back exactly
