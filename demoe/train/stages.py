"""The two training stages of DeMoE (paper Sec. 3.4, App. C): initialisation and freezing.

Stage 1 (degradation-aware pre-training) trains the "k=1 network": every MoE block
is one NAFBlock (``block_experts=1``), plus the router, with L1 + λ·CE. Stage 2 builds a
DeMoE of the same configuration, copies the stage-1 block at each MoE position into
every expert there (:func:`expand_baseline`), freezes the encoder side and fine-tunes
the decoder with soft gating (Eq. 2).

Default frozen groups for stage 2: ``intro``, ``encoders``, ``downs`` and ``mlp_branch``.
The paper (Sec. 3.4) freezes the router and the encoder and fine-tunes the MoE blocks
and the decoder. ``middle_blks`` are *not* frozen: the router reads the features right after
the last downsampling, before the middle blocks, so the middle blocks do not affect
routing; they feed the first MoE block and are the first stage of the decoding path
(Fig. 3), so we count them as decoder. Freezing the encoder keeps the features the
router was trained on (and the degradation-aware representation of stage 1) fixed,
so the router's predictions stay valid while the experts specialise.

Frozen modules are also put in eval mode during training (:func:`set_train_mode`):
the router's BatchNorm statistics and dropout must not change once it is frozen.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import torch
from torch import nn

from demoe.errors import CheckpointError, ConfigError
from demoe.io.checkpoint import StateDict, read_state_dict
from demoe.models.checkpoint import check_state_dict, load_model
from demoe.models.demoe import DeMoE
from demoe.models.experts import DEFAULT_EXPERT_BLOCK
from demoe.models.nafnet import nafnet_from_expert
from demoe.train.config import MODULE_GROUPS

_EXPERT_KEY = re.compile(r"^experts\.(\d+)\.experts\.(\d+)\.(.+)$")


def expand_baseline(model: DeMoE, baseline: StateDict, baseline_blocks_per_stage: int = 1) -> None:
    """Initialise ``model`` from a stage-1 state_dict (``block_experts=1``).

    Every parameter outside the MoE blocks is copied as is; expert ``e`` of MoE block
    ``m`` gets the single stage-1 block at the same position. When ``model`` stacks
    more MoE blocks per stage than the baseline (a Table 5 ablation), the extra ones
    take the stage's last baseline block. Experts of another block than the stage-1
    NAFBlock (``expert_block``, App. F Table 7) have no stage-1 weights to copy: they
    keep their own initialisation and are trained from scratch in stage 2.
    """
    if not isinstance(model, DeMoE):
        raise ConfigError(f"stage-2 initialisation needs a DeMoE, got {type(model).__name__}")
    target = model.state_dict()
    fresh_experts = model.config["expert_block"] != DEFAULT_EXPERT_BLOCK
    state: StateDict = {}
    for key in target:
        match = _EXPERT_KEY.match(key)
        if match is None:
            state[key] = _source(baseline, key)
            continue
        if fresh_experts:
            state[key] = target[key]
            continue
        block, rest = int(match.group(1)), match.group(3)
        stage, within = divmod(block, model.moe_blocks_per_stage)
        src_block = stage * baseline_blocks_per_stage + min(within, baseline_blocks_per_stage - 1)
        state[key] = _source(baseline, f"experts.{src_block}.experts.0.{rest}")
    check_state_dict(model, state, source="expanded stage-1 baseline")
    model.load_state_dict(state, strict=True)


def _source(baseline: StateDict, key: str) -> torch.Tensor:
    if key not in baseline:
        raise CheckpointError(f"stage-1 baseline has no parameter {key!r}")
    return baseline[key]


def initialise(model: nn.Module, source: str, mode: str, expert: str | None = None) -> None:
    """Load initial weights from the model folder ``source``.

    ``mode="expand"``: stage-1 baseline → every expert (:func:`expand_baseline`);
    ``mode="copy"``: the same architecture, loaded as is;
    ``mode="expert"``: the k=1 network of the DeMoE in ``source`` through the expert of
    task ``expert``, without router (DeMoE*, Table 3; :func:`nafnet_from_expert`).
    """
    if mode == "expert":
        if expert is None:
            raise ConfigError("init mode 'expert' needs init.expert (a task name)")
        source_model = load_model(source)
        if not isinstance(source_model, DeMoE):
            raise ConfigError(f"init mode 'expert' needs a DeMoE in {source}")
        state = nafnet_from_expert(source_model, expert).state_dict()
        check_state_dict(model, state, source=f"{source} (expert {expert})")
        model.load_state_dict(state, strict=True)
        return
    state = read_state_dict(source)
    if mode == "copy":
        check_state_dict(model, state, source=source)
        model.load_state_dict(state, strict=True)
    elif mode == "expand":
        blocks = _baseline_blocks_per_stage(state, model)
        expand_baseline(model, state, blocks)
    else:
        raise ConfigError(f"unknown init mode {mode!r}; valid: expand, copy, expert")


def _baseline_blocks_per_stage(state: StateDict, model: nn.Module) -> int:
    blocks = {int(m.group(1)) for k in state if (m := _EXPERT_KEY.match(k))}
    if not blocks:
        raise CheckpointError("init source is not a DeMoE baseline: it has no MoE blocks")
    stages = len(model.level_channels)
    return max(1, (max(blocks) + 1) // stages)


def freeze(
    model: nn.Module, groups: Iterable[str], trainable_experts: Iterable[int] | None = None
) -> list[str]:
    """Set ``requires_grad`` by module group; returns the names of trainable parameters.

    ``groups``: names from :data:`~demoe.train.config.MODULE_GROUPS` to freeze.
    ``trainable_experts``: if given, only those expert indices of every MoE block train
    (the other experts are frozen), as for DeMoE* (Table 3).
    """
    frozen = set(groups)
    unknown = frozen - set(MODULE_GROUPS)
    if unknown:
        raise ConfigError(f"unknown module group(s) {sorted(unknown)}; valid: {MODULE_GROUPS}")
    keep = None if trainable_experts is None else set(trainable_experts)
    trainable = []
    for name, param in model.named_parameters():
        param.requires_grad_(_is_trainable(name, frozen, keep))
        if param.requires_grad:
            trainable.append(name)
    if not trainable:
        raise ConfigError("every parameter is frozen: nothing to train")
    return trainable


def _is_trainable(name: str, frozen: set[str], experts: set[int] | None) -> bool:
    group = name.split(".", 1)[0]
    if group in frozen:
        return False
    if experts is not None and group == "experts":
        match = _EXPERT_KEY.match(name)
        return match is not None and int(match.group(2)) in experts
    return True


def set_train_mode(model: nn.Module) -> None:
    """``model.train()``, then eval mode for every module with no trainable parameter
    (frozen BatchNorm statistics and dropout stay fixed)."""
    model.train()
    for module in model.modules():
        params = list(module.parameters())
        if params and not any(p.requires_grad for p in params):
            module.eval()
