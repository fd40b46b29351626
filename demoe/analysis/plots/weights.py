"""Weight-similarity figures (paper Sec. 3.1 "Deblurring Similarity Analysis", App. A, D).

* Fig. 2: per-filter Pearson correlation (Eq. 3–4) of every layer, between NAFNets
  trained on different blur datasets; one panel per dataset pair, bars per layer, the
  red line at 0.7.
* Fig. 7: the same scores averaged per dataset pair and layer type.
* Fig. 8: correlation with a NAFNet trained for low-light enhancement (LOLv2-real).
* Fig. 9: per-filter RBF CKA (Eq. 4–6) per layer, beside its value for unrelated random
  weights of the same shapes.
* Fig. 11: correlation between the five experts of DeMoE, per expert pair and layer type.

Controls (ours, not the paper's): how much of a cross-dataset correlation is learned
rather than inherited from the initialisation is read against (a) the same training on
the same dataset from another seed (``nafnet_<dataset>_reseed``) and (b) each model
against its own initial weights (:func:`initial_state_dict`).

Scores come from :mod:`demoe.analysis.similarity`; this module only groups and draws.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
import torch
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from demoe.analysis.plots.labels import model_label, model_name, task_label
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
from demoe.analysis.style import COLUMN_FIGURE_WIDTH_IN, MIN_FONT_PT, font_pt
from demoe.errors import CheckpointError
from demoe.experiments.catalogue import SEED_CONTROL_SUFFIX
from demoe.io.atomic import write_text
from demoe.io.checkpoint import read_state_dict
from demoe.train.config import load_config
from demoe.train.loop import build_training_model

LAYER_TYPE_COLORS: dict[str, tuple[float, float, float]] = dict(
    zip(LAYER_TYPES, sns.color_palette("colorblind", len(LAYER_TYPES)), strict=True)
)
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
MEASURE_LABELS: dict[str, str] = {
    "pearson": "mean per-filter Pearson r",
    "cka": "linear CKA",
    "rbf_cka": "RBF CKA",
}


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


#: How each reference series of :func:`layer_bar_figure` is drawn, by its kind.
REFERENCE_STYLES: dict[str, dict] = {
    "seed": {"marker": "o", "color": "black", "linestyle": "none", "markersize": 2.5},
    "init": {"marker": "x", "color": "tab:red", "linestyle": "none", "markersize": 3},
    "random": {"color": "dimgray", "linestyle": ":", "linewidth": 1.2, "drawstyle": "steps-mid"},
    "pairs": {"marker": "_", "color": "black", "linestyle": "none", "markersize": 6},
}


def random_weight_reference(
    summary: pd.DataFrame, measure: Measure, sigma_factor: float = 0.5
) -> pd.Series:
    """Expected layer score of unrelated random weights of each layer's shape, indexed by
    layer (:func:`demoe.analysis.similarity.random_filter_baseline` of its filter size)."""
    sizes = summary.set_index("layer")["filter_size"]
    cache = {n: random_filter_baseline(int(n), measure, sigma_factor) for n in set(sizes)}
    return sizes.map(cache)


def tick_groups(
    ticks: Sequence[int], labels: Sequence[str], min_gap: float
) -> tuple[list[int], list[str]]:
    """Ticks at least ``min_gap`` apart: a tick closer than that to the previous kept one
    is dropped and its label joins that tick's (one line each, e.g. "up 1" over
    "decoder 1 block 1"), so neighbouring labels never overlap."""
    kept: list[int] = []
    text: list[list[str]] = []
    for tick, label in zip(ticks, labels, strict=True):
        # half the previous label's lines and half of this one's: (lines + 1) / 2 heights
        if kept and tick - kept[-1] < min_gap * (len(text[-1]) + 1) / 2:
            text[-1].append(str(label))
        else:
            kept.append(int(tick))
            text.append([str(label)])
    return kept, ["\n".join(lines) for lines in text]


def layer_bar_figure(
    summary: pd.DataFrame,
    ylabel: str,
    title: str,
    threshold: float | None = None,
    references: Mapping[str, tuple[str, pd.Series]] | None = None,
) -> Figure:
    """Bars per layer (mean over pairs, min–max whiskers), coloured by layer type (Fig. 2/8/9).

    x ticks mark the first layer of every block position; ``threshold`` draws the red line;
    ``references`` maps a legend label to (kind of :data:`REFERENCE_STYLES`, per-layer
    values indexed by layer key), drawn over the bars (controls, random baseline).
    """
    n = len(summary)
    fig, ax = plt.subplots(figsize=(max(8.0, 0.06 * n), 3.8))
    x = np.arange(n)
    mean = summary["mean"].to_numpy()
    yerr = None
    if (summary["n_pairs"] > 1).any():
        yerr = np.vstack([mean - summary["min"].to_numpy(), summary["max"].to_numpy() - mean])
    colors = [LAYER_TYPE_COLORS[t] for t in summary["layer_type"]]
    ax.bar(x, mean, width=0.85, color=colors, yerr=yerr, error_kw={"elinewidth": 0.5})
    handles: list = [
        Patch(color=LAYER_TYPE_COLORS[t], label=t)
        for t in LAYER_TYPES
        if t in set(summary["layer_type"])
    ]
    for label, (kind, values) in (references or {}).items():
        style = REFERENCE_STYLES[kind]
        ax.plot(x, values.reindex(summary["layer"]).to_numpy(), **style)
        handles.append(Line2D([], [], label=label, **style))
    if threshold is not None:
        ax.axhline(threshold, color="red", linestyle="--", linewidth=1.0)
        handles.append(Line2D([], [], color="red", linestyle="--", label=f"{threshold:g}"))
    starts = np.flatnonzero(summary["position"].ne(summary["position"].shift()).to_numpy())
    width = fig.get_figwidth()
    tick_pt = font_pt(width)
    # vertical labels need about 1.3 font heights between ticks: closer ones share a label
    min_gap = 1.3 * tick_pt / 72 / (0.8 * width / (n + 1))
    ticks, labels = tick_groups(starts, summary["position"].iloc[starts].tolist(), min_gap)
    ax.set_xticks(ticks, labels, rotation=90, fontsize=tick_pt, linespacing=1.0)
    ax.set_xlim(-1, n)
    ax.tick_params(axis="y", labelsize=font_pt(width))
    ax.set_ylabel(ylabel, fontsize=font_pt(width, MIN_FONT_PT + 1))
    ax.set_title(title, fontsize=font_pt(width, MIN_FONT_PT + 1))
    # the legend goes under the tick labels, whose height depends on the longest one
    fig.canvas.draw()
    below = ax.get_tightbbox(fig.canvas.get_renderer()).transformed(ax.transAxes.inverted()).y0
    ax.legend(
        handles=handles,
        ncol=min(len(handles), 4),
        fontsize=font_pt(width),
        loc="upper center",
        bbox_to_anchor=(0.5, below - 0.02),
        frameon=False,
    )
    return fig


#: The three stages of a NAFNet along the forward pass, by the first word of a layer's
#: :func:`demoe.analysis.similarity.block_position` (the intro conv opens the encoder,
#: the ending conv closes the decoder).
_STAGES: dict[str, str] = {
    "intro": "encoder",
    "encoder": "encoder",
    "down": "encoder",
    "middle": "middle",
    "MoE": "decoder",
    "up": "decoder",
    "decoder": "decoder",
    "ending": "decoder",
}


def network_stages(positions: Sequence[str]) -> list[tuple[str, int, int]]:
    """Consecutive runs of layers in one stage (encoder, middle, decoder) as
    ``(stage, first, last)`` indices into ``positions`` (layers in network order)."""
    spans: list[tuple[str, int, int]] = []
    for i, position in enumerate(positions):
        stage = _STAGES.get(str(position).split(" ")[0], str(position))
        if spans and spans[-1][0] == stage:
            spans[-1] = (stage, spans[-1][1], i)
        else:
            spans.append((stage, i, i))
    return spans


def pair_references(
    study: Mapping[str, pd.DataFrame], model_a: str, model_b: str
) -> dict[str, tuple[str, pd.Series]]:
    """:func:`control_references` of one pair's two models only (Fig. 2's panel of the
    pair ``model_a`` – ``model_b``): per layer, the mean of their controls."""
    own = {
        kind: table[table["model_a"].isin([model_a, model_b])]
        for kind, table in study.items()
        if kind != "pairs"
    }
    return control_references(own)


def pair_grid_figure(
    study: Mapping[str, pd.DataFrame],
    ylabel: str,
    title: str,
    threshold: float | None = None,
    columns: int = 2,
) -> Figure:
    """Fig. 2 as the paper draws it: one small panel per pair of ``study["pairs"]``
    (a :func:`similarity_study`), sized for the paper's column width.

    Each panel: the pair's score of every layer in network order (bars coloured by layer
    type), the ``threshold`` line, and the controls of the pair's two models
    (:func:`pair_references`, drawn as in :data:`REFERENCE_STYLES`); the x axis marks the
    encoder, middle and decoder. One legend under the grid.
    """
    scores = study["pairs"]
    pairs = list(dict.fromkeys(scores["pair"]))
    cols = min(columns, len(pairs))
    rows = -(-len(pairs) // cols)
    fig, axes = plt.subplots(
        rows,
        cols,
        figsize=(COLUMN_FIGURE_WIDTH_IN, 0.6 + 1.05 * rows),
        squeeze=False,
        sharex=True,
        sharey=True,
        layout="constrained",
    )
    values = [s["score"] for s in study.values()]
    low = min(0.0, float(np.nanmin(pd.concat(values).to_numpy())))
    kinds_drawn: dict[str, tuple[str, dict]] = {}
    types_drawn: set[str] = set()
    for ax, pair in zip(axes.flat, pairs, strict=False):
        table = scores[scores["pair"] == pair].sort_values("order")
        x = np.arange(len(table))
        types_drawn.update(table["layer_type"])
        ax.bar(
            x,
            table["score"].to_numpy(),
            width=0.85,
            linewidth=0,  # an edge would cover bars this thin
            color=[LAYER_TYPE_COLORS[t] for t in table["layer_type"]],
        )
        first = table.iloc[0]
        references = pair_references(study, first["model_a"], first["model_b"])
        for label, (kind, series) in references.items():
            style = {**REFERENCE_STYLES[kind], "markersize": 1.6, "markeredgewidth": 0.5}
            ax.plot(x, series.reindex(table["layer"]).to_numpy(), **style)
            kinds_drawn[label] = (kind, style)
        if threshold is not None:
            ax.axhline(threshold, color="red", linestyle="--", linewidth=0.8)
        spans = network_stages(table["position"].tolist())
        for _, start, _ in spans[1:]:
            ax.axvline(start - 0.5, color="0.55", linewidth=0.6)
        ax.set_xticks([(a + b) / 2 for _, a, b in spans], [s for s, _, _ in spans])
        ax.tick_params(labelsize=MIN_FONT_PT, length=2, pad=1.5)
        ax.grid(axis="x", visible=False)
        ax.set_xlim(-1, len(table))
        ax.set_ylim(low - 0.05, 1.05)
        ax.set_title(pair, fontsize=MIN_FONT_PT, pad=2)
    for k in range(len(pairs), rows * cols):  # an empty last cell: label the panel above it
        axes.flat[k].set_visible(False)
        axes.flat[k - cols].tick_params(axis="x", labelbottom=True)
    handles: list = [
        Patch(color=LAYER_TYPE_COLORS[t], label=t) for t in LAYER_TYPES if t in types_drawn
    ]
    for label, (_, style) in kinds_drawn.items():
        handles.append(Line2D([], [], label=label, **{**style, "markersize": 4}))
    if threshold is not None:
        handles.append(Line2D([], [], color="red", linestyle="--", label=f"{threshold:g}"))
    fig.legend(
        handles=handles,
        loc="outside lower center",
        ncol=4,
        fontsize=MIN_FONT_PT,
        frameon=False,
        columnspacing=1.0,
        handlelength=1.5,
    )
    fig.supylabel(ylabel, fontsize=MIN_FONT_PT)
    fig.suptitle(title, fontsize=MIN_FONT_PT + 1)
    return fig


def heatmap_figure(
    matrix: pd.DataFrame, title: str, cbar_label: str, separators: Sequence[int] = ()
) -> Figure:
    """One annotated heatmap (Fig. 7: pairs × layer types); a white line above each
    row index in ``separators`` (e.g. where the control rows start).

    Sized for the paper's column width with every text at least ``MIN_FONT_PT``: the
    saved figure is the column wide and its constrained layout keeps the row labels
    inside it. Empty cells (a measure undefined for every layer of the type) read "n/a".
    """
    fig, ax = plt.subplots(
        figsize=(COLUMN_FIGURE_WIDTH_IN, 0.7 + 0.22 * matrix.shape[0]), layout="constrained"
    )
    vmin = min(0.0, float(np.nanmin(matrix.to_numpy())))
    sns.heatmap(
        matrix,
        ax=ax,
        annot=True,
        fmt=".2f",
        vmin=vmin,
        vmax=1.0,
        cmap="viridis",
        annot_kws={"fontsize": MIN_FONT_PT},
        cbar_kws={"label": cbar_label, "pad": 0.02},
    )
    for r, c in zip(*np.nonzero(matrix.isna().to_numpy()), strict=True):
        ax.text(
            c + 0.5, r + 0.5, "n/a", ha="center", va="center", fontsize=MIN_FONT_PT, color="0.4"
        )
    for row in separators:
        ax.axhline(row, color="white", linewidth=2.5)
    ax.grid(False)
    ax.tick_params(labelsize=MIN_FONT_PT, length=0, pad=2)
    colorbar = ax.collections[0].colorbar
    colorbar.ax.tick_params(labelsize=MIN_FONT_PT)
    colorbar.set_label(cbar_label, fontsize=MIN_FONT_PT)
    ax.set_xlabel("")
    ax.set_ylabel("")
    fig.suptitle(title, fontsize=MIN_FONT_PT + 1)
    return fig


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


def expert_figure(matrices: Mapping[str, pd.DataFrame], title: str, cbar_label: str) -> Figure:
    """One 5×5 expert × expert heatmap per MoE block on a shared colour scale (the
    notebook's view of Fig. 11; the figure itself is per pair and layer type)."""
    n = len(matrices)
    fig, axes = plt.subplots(
        1, n + 1, figsize=(3.2 * n + 1.0, 3.4), gridspec_kw={"width_ratios": [1] * n + [0.06]}
    )
    values = np.concatenate([m.to_numpy().ravel() for m in matrices.values()])
    vmin = min(0.0, float(np.nanmin(values)))
    for k, (ax, (name, matrix)) in enumerate(zip(axes[:n], matrices.items(), strict=True)):
        shown = matrix.rename(index=task_label, columns=task_label)
        sns.heatmap(
            shown,
            ax=ax,
            annot=True,
            fmt=".2f",
            vmin=vmin,
            vmax=1.0,
            cmap="viridis",
            square=True,
            cbar=k == n - 1,
            cbar_ax=axes[n] if k == n - 1 else None,
            cbar_kws={"label": cbar_label},
            annot_kws={"fontsize": 6},
            yticklabels=k == 0,
        )
        ax.set_title(name)
    fig.suptitle(title, y=1.0, va="bottom")
    return fig


def expert_type_scores(
    state_dict: StateDict, measure: Measure = "pearson", params: Params = "weight"
) -> pd.DataFrame:
    """Layer scores of every expert pair of every MoE block (Fig. 11), long format with
    ``pair`` ("defocus – low light") and ``moe`` ("MoE 1"…) columns."""
    tables = [
        expert_pair_scores(state_dict, i, measure, params).assign(moe=f"MoE {i + 1}")
        for i in moe_blocks(state_dict)
    ]
    scores = pd.concat(tables, ignore_index=True)
    pair = scores["expert_a"].map(task_label) + " – " + scores["expert_b"].map(task_label)
    return scores.assign(pair=pair)


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


#: Kinds of score tables of :func:`similarity_study`.
STUDY_KINDS: tuple[str, ...] = ("pairs", "seed", "init")


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


def type_scores(tables: Mapping[str, pd.DataFrame], measure: Measure) -> pd.DataFrame:
    """Tidy per-pair, per-layer-type means of score tables keyed by kind ("pairs",
    "seed", "init", "other_task", "experts"…): columns ``kind, pair, layer_type,
    measure, score, n_layers`` (the CSV beside Figs. 7, 8, 9, 11, for the claims)."""
    rows = [
        table.groupby(["pair", "layer_type"], sort=False)["score"]
        .agg(score="mean", n_layers="count")
        .reset_index()
        .assign(kind=kind, measure=measure)
        for kind, table in tables.items()
    ]
    columns = ["kind", "pair", "layer_type", "measure", "score", "n_layers"]
    return pd.concat(rows, ignore_index=True)[columns]


def write_scores_csv(frame: pd.DataFrame, path: str | os.PathLike) -> None:
    """Write a :func:`type_scores` table atomically."""
    write_text(path, frame.to_csv(index=False, float_format="%.6g"))


def control_references(study: Mapping[str, pd.DataFrame]) -> dict[str, tuple[str, pd.Series]]:
    """Per-layer means of the control kinds of a :func:`similarity_study`, as
    ``references`` of :func:`layer_bar_figure`."""
    labels = {
        "seed": "control: same dataset, other seed (mean)",
        "init": "control: model vs its own init (mean)",
    }
    return {
        labels[kind]: (kind, study[kind].groupby("layer")["score"].mean())
        for kind in ("seed", "init")
        if kind in study and len(study[kind])
    }
