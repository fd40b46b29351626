"""Fig. 11: correlation between the five experts of DeMoE, per expert pair and layer type.

Paper App. D: the per-filter Pearson correlation (Eq. 3–4) of every layer of expert i
with the same layer of expert j, averaged over the layers of each of the four types
(1×1 conv, 3×3 conv, LayerNorm, SCA) of every MoE block; one panel per type, one bar per
expert pair (10 pairs of the five experts); whiskers: the bootstrap interval of the bar's
mean over the layers of the type.
"""

from __future__ import annotations

import argparse
import sys

from demoe.analysis.labels import with_weights_source
from demoe.analysis.plots.cli import run
from demoe.analysis.plots.weights import (
    MEASURE_LABELS,
    Drawn,
    interval_settings,
    similarity_main,
    type_bar_figure,
)
from demoe.analysis.similarity_study import expert_type_scores
from demoe.io.checkpoint import read_state_dict


def arguments(parser: argparse.ArgumentParser) -> None:
    """The DeMoE model and which parameters are compared."""
    parser.add_argument("--model", required=True, help="trained DeMoE model file")
    parser.add_argument("--params", choices=["weight", "all"], default="weight")


def draw(args: argparse.Namespace) -> Drawn:
    """The bars of the expert pairs, and their scores."""
    settings = interval_settings(args)
    scores = expert_type_scores(read_state_dict(args.model), "pearson", args.params)
    title = with_weights_source(
        "Weight correlation between DeMoE experts by layer type "
        f"(layers of {scores['moe'].nunique()} MoE blocks)",
        args.model,
    )
    fig = type_bar_figure(scores, title, MEASURE_LABELS["pearson"], settings)
    return fig, {"experts": scores}


main = similarity_main(__doc__, "pearson", arguments, draw)

if __name__ == "__main__":
    sys.exit(run(main))
