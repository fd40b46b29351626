"""Fig. 2: per-filter Pearson correlation per layer between the per-dataset NAFNets.

Paper Sec. 3.1 (Eq. 3–4): bars are the mean over every pair of the given models
(10 pairs for the five AIO-Blur NAFNets), whiskers the min and max over pairs, the red
line the 0.7 threshold. Controls (ours): dots, each model against the same training from
another seed (``--seed-controls``); crosses, each model against its own initialisation
(``--init-control``). Bars near the crosses mean the correlation is inherited from the
initialisation rather than learned.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from demoe.analysis.plots.cli import add_study_arguments, figure_parser, run, save
from demoe.analysis.plots.weights import (
    MEASURE_LABELS,
    control_references,
    layer_bar_figure,
    layer_summary,
    similarity_study,
)


def main(argv: Sequence[str] | None = None) -> None:
    parser = figure_parser(__doc__)
    add_study_arguments(parser)
    parser.add_argument("--threshold", type=float, default=0.7)
    args = parser.parse_args(argv)

    study = similarity_study(
        args.models, args.seed_controls, args.init_control, "pearson", args.params
    )
    n_pairs = study["pairs"]["pair"].nunique()
    title = f"Layer-wise weight correlation, mean over {n_pairs} pairs of per-dataset NAFNets"
    fig = layer_bar_figure(
        layer_summary(study["pairs"]),
        MEASURE_LABELS["pearson"],
        title,
        args.threshold,
        control_references(study),
    )
    save(fig, args)


if __name__ == "__main__":
    sys.exit(run(main))
