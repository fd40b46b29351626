"""Fig. 7: per-filter Pearson correlation per dataset pair and layer type.

Paper Sec. 3.1 / App. A: the layer scores of Fig. 2 (Eq. 3–4) averaged over the layers
of each of the four types (1×1 conv, 3×3 conv, LayerNorm, SCA; see
``demoe.analysis.similarity.layer_type``), one panel per type as the paper draws it ("the
layer considered for each diagram"), one bar per pair of per-dataset NAFNets; whiskers:
the bootstrap interval of the bar's mean over the layers of the type. Below the pairs, the
control rows (ours): each model against the same training from another seed, and against
its own initialisation.
"""

from __future__ import annotations

import argparse
import sys

from demoe.analysis.plots.cli import run
from demoe.analysis.plots.weights import (
    MEASURE_LABELS,
    Drawn,
    add_study_arguments,
    interval_settings,
    similarity_main,
    type_bar_figure,
)
from demoe.analysis.similarity_study import per_layer_scores, similarity_study


def draw(args: argparse.Namespace) -> Drawn:
    """The bars of the pairs and their controls, and the study behind them."""
    settings = interval_settings(args)
    study = similarity_study(
        args.models, args.seed_controls, args.init_control, "pearson", args.params
    )
    scores = per_layer_scores(study, "pearson")
    title = "Weight correlation by layer type between per-dataset NAFNets (controls below)"
    return type_bar_figure(scores, title, MEASURE_LABELS["pearson"], settings), study


main = similarity_main(__doc__, "pearson", add_study_arguments, draw)

if __name__ == "__main__":
    sys.exit(run(main))
