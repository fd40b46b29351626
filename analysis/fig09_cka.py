"""Fig. 9: RBF CKA per layer between the per-dataset NAFNets.

Paper App. A (Eq. 5–6): each layer's output filters are the CKA examples, the RBF
bandwidth is ``--sigma-factor`` × the median distance between filters; bars are the mean
over every pair of the given models, whiskers the min and max over pairs.
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
    parser.add_argument("--sigma-factor", type=float, default=0.5)
    args = parser.parse_args(argv)

    models = read_models(args.models)
    pairs = list(itertools.combinations(models, 2))
    labels = {n: model_label(n) for n in models}
    scores = pairwise_layer_scores(models, pairs, labels, "rbf_cka", args.params, args.sigma_factor)
    title = (
        f"Layer-wise RBF CKA (σ = {args.sigma_factor:g} × median distance), "
        f"mean over {len(pairs)} pairs of per-dataset NAFNets"
    )
    save(layer_bar_figure(layer_summary(scores), MEASURE_LABELS["rbf_cka"], title), args)


if __name__ == "__main__":
    sys.exit(run(main))
