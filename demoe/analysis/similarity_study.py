"""The weight-similarity study of DeMoE (paper Sec. 3.1, App. A and D): which models are
compared, and the statistics of their layer scores behind Figs. 2, 7, 8, 9 and 11.

* Pairs of models: every layer of two state dicts scored with
  :func:`demoe.analysis.similarity.compare_state_dicts` (per-filter Pearson, Eq. 3–4, or
  CKA, Eq. 5–6), in forward-pass order (:func:`network_order`).
* The study of Sec. 3.1 (:func:`similarity_study`): every pair of the per-dataset NAFNets
  and, ours, the controls against which a cross-dataset score is read: (a) the same
  training on the same dataset from another seed (``nafnet_<dataset>_reseed``) and
  (b) each model against its own initial weights (:func:`initial_state_dict`).
* The experts of DeMoE (App. D, Fig. 11): every pair of experts of every MoE block.
* Statistics: per layer over pairs (:func:`layer_summary`), per pair and layer type
  (:func:`type_matrix`), and the score of unrelated random weights
  (:func:`random_weight_reference`). The CSV beside Figs. 7, 8, 9, 11 that the claims
  read holds every layer score (:func:`per_layer_scores`), so that a statistic over
  layers can resample them.

Per-filter measures and layer types are in :mod:`demoe.analysis.similarity`; the figures
are drawn by :mod:`demoe.analysis.plots.weights`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from demoe.analysis.labels import model_label, model_name, task_label
from demoe.analysis.similarity import (
    LAYER_TYPES,
    Measure,
    Params,
    StateDict,
    canonical_key,
    compare_state_dicts,
    expert_pair_scores,
    expert_similarity,
    random_filter_baseline,
)
from demoe.errors import CheckpointError
from demoe.experiments.catalogue import SEED_CONTROL_SUFFIX
from demoe.io.atomic import write_text
from demoe.io.checkpoint import read_state_dict
from demoe.train.config import load_config
from demoe.train.loop import build_training_model

#: Module order inside a NAFBlock's forward pass.
_BLOCK_ORDER: tuple[str, ...] = (
    "norm1",
    "conv1",
    "conv2",
    "sca",
    "conv3",
    "beta",
    "norm2",
    "conv4",
    "conv5",
    "gamma",
)


def network_order(key: str) -> tuple[int, ...]:
    """Sort key putting NAFNet/DeMoE state-dict keys in forward-pass order (intro,
    encoder level blocks and down conv, middle blocks, per decoder level the up conv,
    its blocks and MoE block, ending); safetensors files store keys alphabetically."""
    parts = canonical_key(key).split(".")
    nums = [int(p) for p in parts if p.isdigit()] + [0, 0]
    module = next((p for p in parts if p in _BLOCK_ORDER), "")
    inner = _BLOCK_ORDER.index(module) if module else 0
    head = parts[0]
    if head == "intro":
        return (0,)
    if head in ("encoders", "downs"):
        return (1, nums[0], head == "downs", nums[1], inner)
    if head == "middle_blks":
        return (2, nums[0], inner)
    if head in ("ups", "decoders"):
        return (3, nums[0], head == "decoders", nums[1], inner)
    if head == "experts":  # MoE block m follows the middle blocks (m = 0) or decoder m - 1
        return (
            (2, 99, nums[0], nums[1], inner)
            if nums[0] == 0
            else (3, nums[0] - 1, 2, nums[1], inner)
        )
    return (4 if head == "ending" else 5,)


def pairwise_layer_scores(
    models: Mapping[str, StateDict],
    pairs: Sequence[tuple[str, str]],
    labels: Mapping[str, str] | None = None,
    measure: Measure = "pearson",
    params: Params = "weight",
    sigma_factor: float = 0.5,
) -> pd.DataFrame:
    """Layer scores of every pair of ``models`` (long format, one row per pair and layer).

    Columns: ``pair`` ("A – B" with ``labels``), ``model_a``, ``model_b``, ``order`` (the
    layer's rank in forward-pass order, :func:`network_order`) and the columns of
    :func:`compare_state_dicts`.
    CheckpointError naming both models when their architectures differ.
    """
    labels = labels or {}
    tables = []
    for name_a, name_b in pairs:
        try:
            table = compare_state_dicts(
                models[name_a], models[name_b], measure, params, sigma_factor
            )
        except CheckpointError as exc:
            raise CheckpointError(
                f"cannot compare {name_a} with {name_b} (different architectures?): {exc}"
            ) from exc
        pair = f"{labels.get(name_a, name_a)} – {labels.get(name_b, name_b)}"
        order = [network_order(k) for k in table["layer"]]
        rank = sorted(range(len(order)), key=order.__getitem__)
        table = table.iloc[rank].assign(
            pair=pair, model_a=name_a, model_b=name_b, order=np.arange(len(table))
        )
        tables.append(table)
    return pd.concat(tables, ignore_index=True)


def layer_summary(scores: pd.DataFrame) -> pd.DataFrame:
    """Mean, min and max score over pairs of every layer, in network order."""
    keys = ["order", "layer", "layer_type", "position", "filter_size"]
    grouped = scores.groupby(keys, sort=True)["score"]
    summary = grouped.agg(mean="mean", min="min", max="max", n_pairs="count").reset_index()
    return summary.sort_values("order", ignore_index=True)


def type_matrix(scores: pd.DataFrame) -> pd.DataFrame:
    """Mean score per pair (rows, in order of appearance) and layer type (Figs. 7, 11)."""
    matrix = scores.pivot_table(index="pair", columns="layer_type", values="score", aggfunc="mean")
    columns = [t for t in LAYER_TYPES if t in matrix.columns]
    return matrix.loc[list(dict.fromkeys(scores["pair"])), columns]


def random_weight_reference(
    summary: pd.DataFrame, measure: Measure, sigma_factor: float = 0.5
) -> pd.Series:
    """Expected layer score of unrelated random weights of each layer's shape, indexed by
    layer (:func:`demoe.analysis.similarity.random_filter_baseline` of its filter size)."""
    sizes = summary.set_index("layer")["filter_size"]
    cache = {n: random_filter_baseline(int(n), measure, sigma_factor) for n in set(sizes)}
    return sizes.map(cache)


def moe_blocks(state_dict: StateDict) -> list[int]:
    """Indices of the MoE blocks in a DeMoE state dict; CheckpointError if it has none."""
    blocks = sorted(
        {int(m.group(1)) for k in state_dict if (m := re.match(r"experts\.(\d+)\.experts\.", k))}
    )
    if not blocks:
        raise CheckpointError(
            "no MoE blocks ('experts.<i>.experts.<e>.') in the state dict: "
            "Fig. 11 needs a trained DeMoE"
        )
    return blocks


def expert_matrices(
    state_dict: StateDict, measure: Measure = "pearson", params: Params = "weight"
) -> dict[str, pd.DataFrame]:
    """Expert × expert similarity of every MoE block, keyed "MoE 1", "MoE 2"… (Fig. 11)."""
    return {
        f"MoE {i + 1}": expert_similarity(state_dict, i, measure, params)
        for i in moe_blocks(state_dict)
    }


def expert_type_scores(
    state_dict: StateDict, measure: Measure = "pearson", params: Params = "weight"
) -> pd.DataFrame:
    """Layer scores of every expert pair of every MoE block (Fig. 11), long format with
    ``pair`` ("defocus – low light") and ``moe`` ("MoE 1"…) columns; ``layer`` is
    "<moe>/<key in the expert>" ("MoE 1/conv1.weight"), the same in every expert pair."""
    tables = [
        expert_pair_scores(state_dict, i, measure, params).assign(moe=f"MoE {i + 1}")
        for i in moe_blocks(state_dict)
    ]
    scores = pd.concat(tables, ignore_index=True)
    pair = scores["expert_a"].map(task_label) + " – " + scores["expert_b"].map(task_label)
    return scores.assign(pair=pair, layer=scores["moe"] + "/" + scores["layer"])


def read_models(paths: Sequence[str | os.PathLike]) -> dict[str, StateDict]:
    """State dicts keyed by experiment name (the model file's folder)."""
    models = {model_name(p): read_state_dict(p) for p in paths}
    if len(models) != len(paths):
        raise CheckpointError(f"two model files share an experiment name: {list(map(str, paths))}")
    return models


def initial_state_dict(model_path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """The weights a trained model started from, rebuilt from its training config.

    ``model_path`` is ``<results>/models/<name>/model.safetensors``; the folder's
    ``resolved_config.yaml`` gives the architecture and the seed of the initial weights
    (``run.init_seed``, else ``run.seed``). The trainer seeds the RNGs with it and then
    builds the model (``demoe.train.loop``), so the
    same two steps give the same initial weights (the global RNG state is restored).
    """
    config_file = Path(model_path).parent / "resolved_config.yaml"
    if not config_file.is_file():
        raise CheckpointError(
            f"{config_file}: no training config beside the model, so its initial "
            "weights cannot be rebuilt"
        )
    config = load_config(config_file)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.run.weights_seed)
        model = build_training_model(config)
    return model.state_dict()


def similarity_study(
    model_paths: Sequence[str | os.PathLike],
    seed_control_paths: Sequence[str | os.PathLike] = (),
    with_init: bool = False,
    measure: Measure = "pearson",
    params: Params = "weight",
    sigma_factor: float = 0.5,
) -> dict[str, pd.DataFrame]:
    """Layer scores of the per-dataset models and their controls (Figs. 2, 7, 9).

    ``"pairs"``: every pair of ``model_paths`` (Sec. 3.1); ``"seed"``: each model
    ``<name>`` against ``<name>_reseed`` among ``seed_control_paths`` (same dataset,
    another seed); ``"init"`` (``with_init``): each model against its own initial
    weights (:func:`initial_state_dict`). Missing kinds are absent from the result.
    """
    models = read_models(model_paths)
    names = list(models)
    labels = {n: model_label(n) for n in names}
    study = {"pairs": [(a, b) for i, a in enumerate(names) for b in names[i + 1 :]]}
    controls = read_models(seed_control_paths)
    unmatched = [c for c in controls if c.removesuffix(SEED_CONTROL_SUFFIX) not in models]
    if unmatched:
        raise CheckpointError(f"seed controls without their model: {unmatched}")
    for name in controls:
        base = name.removesuffix(SEED_CONTROL_SUFFIX)
        labels[name] = f"{labels[base]} (other seed)"
    models.update(controls)
    if controls:
        study["seed"] = [(c.removesuffix(SEED_CONTROL_SUFFIX), c) for c in controls]
    if with_init:
        for path, name in zip(model_paths, names, strict=True):
            models[f"{name} init"] = initial_state_dict(path)
            labels[f"{name} init"] = "its initialisation"
        study["init"] = [(n, f"{n} init") for n in names]
    return {
        kind: pairwise_layer_scores(models, pairs, labels, measure, params, sigma_factor)
        for kind, pairs in study.items()
        if pairs
    }


#: Columns of the per-layer score table beside Figs. 7, 8, 9, 11 (:func:`per_layer_scores`).
SCORE_COLUMNS: tuple[str, ...] = ("kind", "pair", "layer_type", "layer", "measure", "score")


def per_layer_scores(tables: Mapping[str, pd.DataFrame], measure: Measure) -> pd.DataFrame:
    """Every layer score of score tables keyed by kind ("pairs", "seed", "init",
    "other_task", "random", "experts"…), one row per kind, pair and layer in the tables'
    order: columns :data:`SCORE_COLUMNS` (the CSV beside Figs. 7, 8, 9, 11, for the claims).

    ``layer`` identifies the layer within its architecture, the same in every pair and
    every figure: the NAFNet-layout state-dict key of a NAFNet's layer
    (:func:`~demoe.analysis.similarity.canonical_key`, e.g. "encoders.0.0.conv2.weight"),
    "<MoE block>/<key in the expert>" of an expert's (:func:`expert_type_scores`). A layer
    without a score (every filter constant, e.g. a LayerNorm against its all-ones
    initialisation) is kept with an empty score; the mean of the defined scores of a kind,
    pair and layer type is that pair's bar of the type in Figs. 7 and 11.
    """
    frames = [table.assign(kind=kind, measure=measure) for kind, table in tables.items()]
    return pd.concat(frames, ignore_index=True)[list(SCORE_COLUMNS)]


def write_scores_csv(frame: pd.DataFrame, path: str | os.PathLike) -> None:
    """Write a :func:`per_layer_scores` table atomically."""
    write_text(path, frame.to_csv(index=False, float_format="%.6g"))
