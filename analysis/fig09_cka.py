"""Fig. 9: per-filter RBF CKA per layer between the per-dataset NAFNets.

Paper App. A (Eq. 4–6), computed per filter like the correlations: the values of a
filter are the CKA examples (``demoe.analysis.similarity``); the RBF bandwidth is
``--sigma-factor`` × the median distance between them; a layer's score is the mean over
its filters. Bars are the mean over every pair of the given models, whiskers the min and
max over pairs. The dotted line is the expected score of unrelated random weights of each
layer's shape (RBF CKA is well above 0 for them); dots and crosses are the seed and
initialisation controls of Fig. 2. The panel on the right averages the pairs, the
baseline and the controls over the layers of each type (as the paper's figure), whiskers
the bootstrap interval of that mean over the layers. The CSV holds the baseline as kind
``random``.
"""

from __future__ import annotations

import argparse
import sys

from demoe.analysis.plots.cli import run
from demoe.analysis.plots.weights import (
    MEASURE_LABELS,
    Drawn,
    add_study_arguments,
    control_references,
    interval_settings,
    layer_bar_figure,
    layer_means,
    similarity_main,
)
from demoe.analysis.similarity_study import (
    layer_summary,
    random_weight_reference,
    similarity_study,
)

RANDOM = "unrelated random weights (expected)"
#: The series of the panel by layer type, by kind of score table.
SERIES = {"pairs": "pairs", "random": "random weights", "seed": "other seed", "init": "own init"}


def arguments(parser: argparse.ArgumentParser) -> None:
    """The study's models and controls, and the RBF bandwidth factor."""
    add_study_arguments(parser)
    parser.add_argument("--sigma-factor", type=float, default=0.5)


def draw(args: argparse.Namespace) -> Drawn:
    """Bars of the pairs with the random-weight baseline and the controls over them, all
    of them by layer type, and the study and baseline behind them."""
    settings = interval_settings(args)
    study = similarity_study(
        args.models,
        args.seed_controls,
        args.init_control,
        "rbf_cka",
        args.params,
        args.sigma_factor,
    )
    summary = layer_summary(study["pairs"])
    baseline = random_weight_reference(summary, "rbf_cka", args.sigma_factor)
    references = {RANDOM: ("random", baseline), **control_references(study)}
    title = (
        f"Layer-wise per-filter RBF CKA (σ = {args.sigma_factor:g} × median distance), "
        f"mean over {study['pairs']['pair'].nunique()} pairs of per-dataset NAFNets"
    )
    random = summary.assign(pair=RANDOM, score=summary["layer"].map(baseline))
    tables = {**study, "random": random}
    by_type = layer_means({SERIES[kind]: tables[kind] for kind in SERIES if kind in tables})
    fig = layer_bar_figure(
        summary, MEASURE_LABELS["rbf_cka"], title, None, references, by_type, settings
    )
    return fig, tables


main = similarity_main(__doc__, "rbf_cka", arguments, draw)

if __name__ == "__main__":
    sys.exit(run(main))
