"""Fig. 7: per-filter Pearson correlation per dataset pair and layer type.

Paper Sec. 3.1 / App. A: the layer scores of Fig. 2 (Eq. 3–4) averaged over the layers
of each type (1×1 conv, 3×3 depthwise conv, LayerNorm, SCA, other; see
``demoe.analysis.similarity.layer_type``), one row per pair of per-dataset NAFNets.
"""

from __future__ import annotations

import itertools
import sys
from collections.abc import Sequence

from demoe.analysis.plots.cli import figure_parser, run, save
from demoe.analysis.plots.labels import model_label
from demoe.analysis.plots.weights import (
    MEASURE_LABELS,
    heatmap_figure,
    pairwise_layer_scores,
    read_models,
    type_matrix,
)


def main(argv: Sequence[str] | None = None) -> None:
    parser = figure_parser(__doc__)
    parser.add_argument("--models", nargs="+", required=True, help="per-dataset NAFNet files")
    parser.add_argument("--params", choices=["weight", "all"], default="weight")
    args = parser.parse_args(argv)

    models = read_models(args.models)
    pairs = list(itertools.combinations(models, 2))
    scores = pairwise_layer_scores(
        models, pairs, {n: model_label(n) for n in models}, "pearson", args.params
    )
    title = "Weight correlation by layer type between per-dataset NAFNets"
    save(heatmap_figure(type_matrix(scores), title, MEASURE_LABELS["pearson"]), args)


if __name__ == "__main__":
    sys.exit(run(main))
