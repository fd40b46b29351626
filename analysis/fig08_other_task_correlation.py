"""Fig. 8: per-filter Pearson correlation per layer between the per-dataset NAFNets and
a NAFNet trained for another task.

Paper App. A: the other task is low-light enhancement on LOLv2-real (``nafnet_lolv2_real``
in the DAG; a synthetic low-light set without blur in the embedded default); any
checkpoint of the same architecture can be given instead. Bars are the mean over the
per-dataset NAFNets of their correlation with ``--other`` (Eq. 3–4), whiskers the min
and max; the red line is the 0.7 threshold; black bars mark the mean correlation between
the deblurring NAFNets themselves (the bars of Fig. 2), for contrast. The panel on the
right averages both over the layers of each type (App. A reads the figure by layer type),
whiskers the bootstrap interval of that mean over the layers.
"""

from __future__ import annotations

import argparse
import sys

from demoe.analysis.labels import model_label, model_name
from demoe.analysis.plots.cli import run
from demoe.analysis.plots.weights import (
    MEASURE_LABELS,
    Drawn,
    add_study_arguments,
    interval_settings,
    layer_bar_figure,
    layer_means,
    similarity_main,
)
from demoe.analysis.similarity_study import layer_summary, pairwise_layer_scores, read_models
from demoe.io.checkpoint import read_state_dict


def arguments(parser: argparse.ArgumentParser) -> None:
    """The per-dataset NAFNets, the other task's model and the threshold line."""
    add_study_arguments(parser, controls=False)
    parser.add_argument("--other", required=True, help="checkpoint of another task")
    parser.add_argument("--other-label", help="name of the other model (default: its folder)")
    parser.add_argument("--threshold", type=float, default=0.7)


def draw(args: argparse.Namespace) -> Drawn:
    """Bars of the correlation with the other task's model, the mean correlation between
    the deblurring NAFNets over them, both by layer type, and the scores behind them."""
    settings = interval_settings(args)
    other = args.other_label or model_name(args.other)
    blur = read_models(args.models)
    models = {**blur, other: read_state_dict(args.other)}
    labels = {n: model_label(n) for n in models}
    scores = pairwise_layer_scores(
        models, [(name, other) for name in blur], labels, "pearson", args.params
    )
    names = list(blur)
    blur_pairs = [(a, b) for i, a in enumerate(names) for b in names[i + 1 :]]
    references, tables = {}, {"other_task": scores}
    series = {"other task": scores}
    if blur_pairs:
        between = pairwise_layer_scores(models, blur_pairs, labels, "pearson", args.params)
        references["between the deblurring NAFNets (Fig. 2, mean)"] = (
            "pairs",
            between.groupby("layer")["score"].mean(),
        )
        tables["pairs"] = between
        series["deblurring pairs"] = between
    title = f"Layer-wise weight correlation of the per-dataset NAFNets with {other}"
    fig = layer_bar_figure(
        layer_summary(scores),
        MEASURE_LABELS["pearson"],
        title,
        args.threshold,
        references,
        layer_means(series),
        settings,
    )
    return fig, tables


main = similarity_main(__doc__, "pearson", arguments, draw)

if __name__ == "__main__":
    sys.exit(run(main))
