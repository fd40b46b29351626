"""Fig. 2: per-filter Pearson correlation per layer between the per-dataset NAFNets.

Paper Sec. 3.1 (Eq. 3–4): bars are the mean over every pair of the given models
(10 pairs for the five AIO-Blur NAFNets), whiskers the min and max over pairs, the red
line the 0.7 threshold.
"""

from __future__ import annotations

import itertools
import sys
from collections.abc import Sequence

from demoe.analysis.plots.cli import figure_parser, run, save
from demoe.analysis.plots.labels import model_label
from demoe.analysis.plots.weights import (
    MEASURE_LABELS,
    layer_bar_figure,
    layer_summary,
    pairwise_layer_scores,
    read_models,
)


def main(argv: Sequence[str] | None = None) -> None:
    parser = figure_parser(__doc__)
    parser.add_argument("--models", nargs="+", required=True, help="per-dataset NAFNet files")
    parser.add_argument("--params", choices=["weight", "all"], default="weight")
    parser.add_argument("--threshold", type=float, default=0.7)
    args = parser.parse_args(argv)

    models = read_models(args.models)
    pairs = list(itertools.combinations(models, 2))
    scores = pairwise_layer_scores(
        models, pairs, {n: model_label(n) for n in models}, "pearson", args.params
    )
    title = f"Layer-wise weight correlation, mean over {len(pairs)} pairs of per-dataset NAFNets"
    fig = layer_bar_figure(layer_summary(scores), MEASURE_LABELS["pearson"], title, args.threshold)
    save(fig, args)


if __name__ == "__main__":
    sys.exit(run(main))
