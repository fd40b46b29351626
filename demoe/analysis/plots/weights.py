"""Weight-similarity figures (paper Sec. 3.1 "Deblurring Similarity Analysis", App. A).

* Fig. 2: per-filter Pearson correlation (Eq. 3–4) of every layer, between NAFNets
  trained on different blur datasets; bars per layer, the red line at 0.7.
* Fig. 7: the same scores averaged per dataset pair and layer type.
* Fig. 8: correlation with a model trained for another task (optional checkpoint).
* Fig. 9: RBF CKA (Eq. 5–6) per layer.
* Fig. 11: correlation between the five experts of each MoE block of DeMoE.

Scores come from :mod:`demoe.analysis.similarity`; this module only groups and draws.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from demoe.analysis.plots.labels import model_name, task_label
from demoe.analysis.similarity import (
    LAYER_TYPES,
    Measure,
    Params,
    StateDict,
    canonical_key,
    compare_state_dicts,
    expert_similarity,
)
from demoe.errors import CheckpointError
from demoe.io.checkpoint import read_state_dict

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
    keys = ["order", "layer", "layer_type", "position"]
    grouped = scores.groupby(keys, sort=True)["score"]
    summary = grouped.agg(mean="mean", min="min", max="max", n_pairs="count").reset_index()
    return summary.sort_values("order", ignore_index=True)


def type_matrix(scores: pd.DataFrame) -> pd.DataFrame:
    """Mean score per dataset pair (rows, in order of appearance) and layer type (Fig. 7)."""
    matrix = scores.pivot_table(index="pair", columns="layer_type", values="score", aggfunc="mean")
    columns = [t for t in LAYER_TYPES if t in matrix.columns]
    return matrix.loc[list(dict.fromkeys(scores["pair"])), columns]


def layer_bar_figure(
    summary: pd.DataFrame, ylabel: str, title: str, threshold: float | None = None
) -> Figure:
    """Bars per layer (mean over pairs, min–max whiskers), coloured by layer type (Fig. 2/8/9).

    x ticks mark the first layer of every block position; ``threshold`` draws the red line.
    """
    n = len(summary)
    fig, ax = plt.subplots(figsize=(max(8.0, 0.06 * n), 3.6))
    x = np.arange(n)
    mean = summary["mean"].to_numpy()
    yerr = None
    if (summary["n_pairs"] > 1).any():
        yerr = np.vstack([mean - summary["min"].to_numpy(), summary["max"].to_numpy() - mean])
    colors = [LAYER_TYPE_COLORS[t] for t in summary["layer_type"]]
    ax.bar(x, mean, width=0.85, color=colors, yerr=yerr, error_kw={"elinewidth": 0.5})
    if threshold is not None:
        ax.axhline(threshold, color="red", linestyle="--", linewidth=1.0)
    starts = np.flatnonzero(summary["position"].ne(summary["position"].shift()).to_numpy())
    ax.set_xticks(starts, summary["position"].iloc[starts], rotation=90, fontsize=6)
    ax.set_xlim(-1, n)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    present = [t for t in LAYER_TYPES if t in set(summary["layer_type"])]
    handles = [Patch(color=LAYER_TYPE_COLORS[t], label=t) for t in present]
    if threshold is not None:
        handles.append(plt.Line2D([], [], color="red", linestyle="--", label=f"{threshold:g}"))
    ax.legend(handles=handles, ncol=len(handles), fontsize=7, loc="lower left")
    return fig


def heatmap_figure(matrix: pd.DataFrame, title: str, cbar_label: str) -> Figure:
    """One annotated heatmap (Fig. 7: dataset pairs × layer types)."""
    fig, ax = plt.subplots(figsize=(1.4 + 1.1 * matrix.shape[1], 1.0 + 0.4 * matrix.shape[0]))
    vmin = min(0.0, float(np.nanmin(matrix.to_numpy())))
    sns.heatmap(
        matrix,
        ax=ax,
        annot=True,
        fmt=".2f",
        vmin=vmin,
        vmax=1.0,
        cmap="viridis",
        cbar_kws={"label": cbar_label},
    )
    ax.set_xlabel("")
    ax.set_ylabel("")
    ax.set_title(title)
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
    """One 5×5 heatmap per MoE block on a shared colour scale (Fig. 11)."""
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


def read_models(paths: Sequence[str | os.PathLike]) -> dict[str, StateDict]:
    """State dicts keyed by experiment name (the model file's folder)."""
    models = {model_name(p): read_state_dict(p) for p in paths}
    if len(models) != len(paths):
        raise CheckpointError(f"two model files share an experiment name: {list(map(str, paths))}")
    return models
