"""Weight-similarity figures (paper Sec. 3.1 "Deblurring Similarity Analysis", App. A, D).

* Fig. 2: per-filter Pearson correlation (Eq. 3–4) of every layer, between NAFNets
  trained on different blur datasets; one panel per dataset pair, bars per layer, the
  red line at 0.7.
* Fig. 7: the same scores averaged per dataset pair and layer type, one panel per type.
* Fig. 8: correlation with a NAFNet trained for low-light enhancement (LOLv2-real).
* Fig. 9: per-filter RBF CKA (Eq. 4–6) per layer, beside its value for unrelated random
  weights of the same shapes.
* Fig. 11: correlation between the five experts of DeMoE, per expert pair and layer type.

A mean over the layers of a type (the bars of Figs. 7 and 11, the panel "by layer type"
of Figs. 8 and 9) carries its bootstrap interval over those layers (seaborn's percentile
bootstrap with the resamples, seed and confidence of the config's ``analysis.intervals``,
given to the scripts as ``--resamples``, ``--interval-seed`` and ``--confidence``).

Controls (ours, not the paper's) are drawn over the bars: the same training on the same
dataset from another seed, and each model against its own initial weights.

Scores and their statistics come from :mod:`demoe.analysis.similarity_study`; this module
draws them, and gives the scripts of Figs. 7, 8, 9 and 11 their shared ``main``
(:func:`similarity_main`).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator

from demoe.analysis.intervals import IntervalSettings
from demoe.analysis.labels import task_label
from demoe.analysis.plots.cli import figure_parser, save
from demoe.analysis.similarity import LAYER_TYPES, Measure
from demoe.analysis.similarity_study import per_layer_scores, write_scores_csv
from demoe.analysis.style import COLUMN_FIGURE_WIDTH_IN, MIN_FONT_PT, font_pt

LAYER_TYPE_COLORS: dict[str, tuple[float, float, float]] = dict(
    zip(LAYER_TYPES, sns.color_palette("colorblind", len(LAYER_TYPES)), strict=True)
)
MEASURE_LABELS: dict[str, str] = {
    "pearson": "mean per-filter Pearson r",
    "cka": "linear CKA",
    "rbf_cka": "RBF CKA",
}


#: The expert × expert heatmaps: annotated cells, one colour scale up to a score of 1.
HEATMAP_STYLE: dict = {"annot": True, "fmt": ".2f", "vmax": 1.0, "cmap": "viridis"}
#: How each reference series of :func:`layer_bar_figure` is drawn, by its kind.
REFERENCE_STYLES: dict[str, dict] = {
    "seed": {"marker": "o", "color": "black", "linestyle": "none", "markersize": 2.5},
    "init": {"marker": "x", "color": "tab:red", "linestyle": "none", "markersize": 3},
    "random": {"color": "dimgray", "linestyle": ":", "linewidth": 1.2, "drawstyle": "steps-mid"},
    "pairs": {"marker": "_", "color": "black", "linestyle": "none", "markersize": 6},
}


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


def interval_label(settings: IntervalSettings) -> str:
    """What the whiskers of a mean over the layers of a type are."""
    return f"{100 * settings.confidence:g} % bootstrap interval over the layers of the type"


def _interval_bars(ax: plt.Axes, data: pd.DataFrame, settings: IntervalSettings, **kws) -> None:
    """Seaborn bars of the mean ``score`` of each group of ``data``, whiskers its
    bootstrap interval over the group's rows (the layers) with ``settings``."""
    sns.barplot(
        data=data,
        errorbar=("ci", 100 * settings.confidence),
        n_boot=settings.resamples,
        seed=settings.seed,
        err_kws={"color": "black", "linewidth": 0.8},
        saturation=1.0,  # the colours of LAYER_TYPE_COLORS, as in the other figures
        ax=ax,
        **kws,
    )


def layer_means(tables: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """Per layer, the mean score over the pairs of each score table (keyed by the label
    of its series): columns ``series``, ``layer``, ``layer_type``, ``score``, the
    ``by_type`` of :func:`layer_bar_figure`."""
    frames = [
        table.groupby(["layer", "layer_type"], sort=False)["score"]
        .mean()
        .reset_index()
        .assign(series=label)
        for label, table in tables.items()
    ]
    return pd.concat(frames, ignore_index=True)


def _type_panel(
    ax: plt.Axes, by_type: pd.DataFrame, settings: IntervalSettings, fontsize: float
) -> None:
    """Per series (x) and layer type (colour) the mean of ``by_type``'s layer scores,
    whiskers its bootstrap interval over the layers of the type."""
    defined = by_type[by_type["score"].notna()]
    _interval_bars(
        ax,
        defined,
        settings,
        x="series",
        y="score",
        hue="layer_type",
        order=list(dict.fromkeys(by_type["series"])),
        hue_order=[t for t in LAYER_TYPES if t in set(defined["layer_type"])],
        palette=LAYER_TYPE_COLORS,
        legend=False,
    )
    ax.set_xlabel("mean by layer type", fontsize=fontsize)
    ax.set_ylabel("")
    ax.tick_params(axis="x", labelrotation=90, labelsize=fontsize)


def layer_bar_figure(
    summary: pd.DataFrame,
    ylabel: str,
    title: str,
    threshold: float | None = None,
    references: Mapping[str, tuple[str, pd.Series]] | None = None,
    by_type: pd.DataFrame | None = None,
    settings: IntervalSettings | None = None,
) -> Figure:
    """Bars per layer (mean over pairs, min–max whiskers), coloured by layer type (Fig. 2/8/9).

    x ticks mark the first layer of every block position; ``threshold`` draws the red line;
    ``references`` maps a legend label to (kind of :data:`REFERENCE_STYLES`, per-layer
    values indexed by layer key), drawn over the bars (controls, random baseline).
    ``by_type`` (per-layer scores of some series, :func:`layer_means`) adds a panel on the
    right, on the same y scale: per series and layer type the mean over the layers of the
    type, whiskers its bootstrap interval over them (``settings``, default
    :class:`~demoe.analysis.intervals.IntervalSettings`).
    """
    n = len(summary)
    main_width = max(8.0, 0.06 * n)
    if by_type is None:
        fig, ax = plt.subplots(figsize=(main_width, 3.8))
        axes = [ax]
    else:
        side = 0.6 + 0.45 * by_type["series"].nunique()
        fig, axes = plt.subplots(
            1,
            2,
            figsize=(main_width + side, 3.8),
            sharey=True,
            gridspec_kw={"width_ratios": [main_width, side], "wspace": 0.04},
        )
        ax = axes[0]
    x = np.arange(n)
    mean = summary["mean"].to_numpy()
    yerr = None
    if (summary["n_pairs"] > 1).any():
        spread = [mean - summary["min"].to_numpy(), summary["max"].to_numpy() - mean]
        # equal scores of every pair: their float mean may stray an ulp outside min and max
        yerr = np.maximum(np.vstack(spread), 0.0)
    colors = [LAYER_TYPE_COLORS[t] for t in summary["layer_type"]]
    ax.bar(x, mean, width=0.85, color=colors, yerr=yerr, error_kw={"elinewidth": 0.5})
    handles: list = [
        Patch(color=LAYER_TYPE_COLORS[t], label=t)
        for t in LAYER_TYPES
        if t in set(summary["layer_type"])
    ]
    if yerr is not None:
        handles.append(Line2D([], [], color="black", linewidth=0.5, label="min–max over pairs"))
    for label, (kind, values) in (references or {}).items():
        style = REFERENCE_STYLES[kind]
        ax.plot(x, values.reindex(summary["layer"]).to_numpy(), **style)
        handles.append(Line2D([], [], label=label, **style))
    width = fig.get_figwidth()
    if by_type is not None:
        settings = settings or IntervalSettings()
        _type_panel(axes[1], by_type, settings, font_pt(width))
        label = f"by layer type: {interval_label(settings)}"
        handles.append(Line2D([], [], color="black", linewidth=0.8, label=label))
    if threshold is not None:
        for each in axes:
            each.axhline(threshold, color="red", linestyle="--", linewidth=1.0)
        handles.append(Line2D([], [], color="red", linestyle="--", label=f"{threshold:g}"))
    starts = np.flatnonzero(summary["position"].ne(summary["position"].shift()).to_numpy())
    tick_pt = font_pt(width)
    # vertical labels need about 1.3 font heights between ticks: closer ones share a label
    min_gap = 1.3 * tick_pt / 72 / (ax.get_position().width * width / (n + 1))
    ticks, labels = tick_groups(starts, summary["position"].iloc[starts].tolist(), min_gap)
    ax.set_xticks(ticks, labels, rotation=90, fontsize=tick_pt, linespacing=1.0)
    ax.set_xlim(-1, n)
    ax.tick_params(axis="y", labelsize=font_pt(width))
    ax.set_ylabel(ylabel, fontsize=font_pt(width, MIN_FONT_PT + 1))
    ax.set_title(title, fontsize=font_pt(width, MIN_FONT_PT + 1))
    # the legend goes under the tick labels, whose height depends on the longest one
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    below = min(a.get_tightbbox(renderer).transformed(ax.transAxes.inverted()).y0 for a in axes)
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
    """Fig. 2 as the paper draws it: one small panel per pair of ``study["pairs"]`` (a
    :func:`~demoe.analysis.similarity_study.similarity_study`), sized for the paper's
    column width.

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


def kind_starts(scores: pd.DataFrame) -> list[int]:
    """Indices into the pairs of ``scores`` (in order of appearance) where a new kind
    starts (e.g. the control rows of Fig. 7); none without a ``kind`` column."""
    if "kind" not in scores.columns:
        return []
    kinds = scores.drop_duplicates("pair")["kind"].to_numpy()
    return [i for i in range(1, len(kinds)) if kinds[i] != kinds[i - 1]]


def type_bar_figure(
    scores: pd.DataFrame, title: str, xlabel: str, settings: IntervalSettings
) -> Figure:
    """Figs. 7 and 11: one panel per layer type, one bar per pair: the mean score of the
    pair's layers of that type, whiskers its bootstrap interval over those layers
    (``settings``).

    ``scores``: per-layer rows (``pair``, ``layer_type``, ``layer``, ``score``, optional
    ``kind``; :func:`~demoe.analysis.similarity_study.per_layer_scores`), pairs drawn top
    to bottom in order of appearance; a grey line where a new kind starts
    (:func:`kind_starts`). A pair without a defined score of a type reads "n/a" (e.g. a
    model against its initial, constant LayerNorm scales). Sized for the paper's column
    width with every text at least ``MIN_FONT_PT``.
    """
    pairs = list(dict.fromkeys(scores["pair"]))
    types = [t for t in LAYER_TYPES if t in set(scores["layer_type"])]
    defined = scores[scores["score"].notna()]
    fig, axes = plt.subplots(
        1,
        len(types),
        figsize=(COLUMN_FIGURE_WIDTH_IN, 1.0 + 0.16 * len(pairs)),
        sharex=True,
        sharey=True,
        squeeze=False,
        layout="constrained",
    )
    for ax, layer_type in zip(axes.flat, types, strict=True):
        of_type = defined[defined["layer_type"] == layer_type]
        _interval_bars(
            ax,
            of_type,
            settings,
            x="score",
            y="pair",
            order=pairs,
            orient="h",
            color=LAYER_TYPE_COLORS[layer_type],
        )
        for row, pair in enumerate(pairs):
            if pair not in set(of_type["pair"]):
                ax.text(0, row, " n/a", va="center", fontsize=MIN_FONT_PT, color="0.4")
        for row in kind_starts(scores):
            ax.axhline(row - 0.5, color="0.4", linewidth=0.8)
        ax.axvline(0, color="0.6", linewidth=0.6)
        layers = scores.loc[scores["layer_type"] == layer_type, "layer"].nunique()
        ax.set_title(f"{layer_type}\n({layers} layers)", fontsize=MIN_FONT_PT, pad=2)
        ax.set_xlabel("")
        ax.set_ylabel("")
        ax.xaxis.set_major_locator(MaxNLocator(nbins=3, steps=[5, 10]))
        ax.tick_params(labelsize=MIN_FONT_PT, length=2, pad=1.5)
        ax.grid(axis="y", visible=False)
    low, high = axes[0, 0].get_xlim()
    axes[0, 0].set_xlim(min(low, 0.0), max(high, 1.0))
    fig.supxlabel(f"{xlabel}\nwhiskers: {interval_label(settings)}", fontsize=MIN_FONT_PT)
    fig.suptitle(title, fontsize=MIN_FONT_PT + 1)
    return fig


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
            vmin=vmin,
            **HEATMAP_STYLE,
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


def control_references(study: Mapping[str, pd.DataFrame]) -> dict[str, tuple[str, pd.Series]]:
    """Per-layer means of the control kinds of a
    :func:`~demoe.analysis.similarity_study.similarity_study`, as
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


def add_study_arguments(parser: argparse.ArgumentParser, controls: bool = True) -> None:
    """The inputs of the weight-similarity figures (Figs. 2, 7, 8, 9): ``--models``, the
    seed and initialisation controls (``controls``) and ``--params``."""
    parser.add_argument("--models", nargs="+", required=True, help="per-dataset NAFNet files")
    if controls:
        parser.add_argument(
            "--seed-controls", nargs="*", default=[], help="nafnet_<dataset>_reseed model files"
        )
        parser.add_argument(
            "--init-control", action="store_true", help="each model vs its initial weights"
        )
    parser.add_argument("--params", choices=["weight", "all"], default="weight")


def add_interval_arguments(parser: argparse.ArgumentParser) -> None:
    """The bootstrap of the intervals over layers (the config's ``analysis.intervals``:
    ``--confidence``, ``--resamples``, ``--interval-seed``; defaults: its defaults)."""
    defaults = IntervalSettings()
    parser.add_argument("--confidence", type=float, default=defaults.confidence)
    parser.add_argument("--resamples", type=int, default=defaults.resamples)
    parser.add_argument("--interval-seed", type=int, default=defaults.seed)


def interval_settings(args: argparse.Namespace) -> IntervalSettings:
    """The interval settings of :func:`add_interval_arguments`' parsed arguments."""
    return IntervalSettings(
        confidence=args.confidence, resamples=args.resamples, seed=args.interval_seed
    )


#: What a similarity figure script draws from its parsed arguments: the figure, and the
#: layer score tables behind it by kind ("pairs", "seed", "init", "other_task", "experts"…).
Drawn = tuple[Figure, Mapping[str, pd.DataFrame]]


def similarity_main(
    doc: str | None,
    measure: Measure,
    add_arguments: Callable[[argparse.ArgumentParser], None],
    draw: Callable[[argparse.Namespace], Drawn],
) -> Callable[[Sequence[str] | None], None]:
    """The ``main`` of a similarity figure script (Figs. 7, 8, 9, 11).

    It parses the script's arguments (``add_arguments``, the interval settings of
    :func:`add_interval_arguments`, then ``--pdf``, ``--png`` and ``--csv``), draws, saves
    the figure and, with ``--csv``, writes every layer score of the ``measure`` behind it
    (:func:`~demoe.analysis.similarity_study.per_layer_scores`), the table the claims read.
    """

    def main(argv: Sequence[str] | None = None) -> None:
        parser = figure_parser(doc)
        add_arguments(parser)
        add_interval_arguments(parser)
        parser.add_argument("--csv", help="also write the score of every layer as CSV")
        args = parser.parse_args(argv)
        fig, tables = draw(args)
        save(fig, args)
        if args.csv:
            write_scores_csv(per_layer_scores(tables, measure), args.csv)

    return main
