"""Fig. 2: per-filter Pearson correlation per layer between the per-dataset NAFNets.

Paper Sec. 3.1 (Eq. 3–4): one small panel per pair of the given models (10 pairs for the
five AIO-Blur NAFNets), as the paper draws it; each bar is one layer's correlation, in
network order (encoder, middle, decoder), coloured by layer type; the red line is the
0.7 threshold. Controls (ours), in each panel for the pair's two models: dots, the mean
of each model against the same training from another seed (``--seed-controls``);
crosses, the mean of each model against its own initialisation (``--init-control``).
Bars near the crosses mean the correlation is inherited from the initialisation rather
than learned.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from demoe.analysis.plots.cli import figure_parser, run, save
from demoe.analysis.plots.weights import MEASURE_LABELS, add_study_arguments, pair_grid_figure
from demoe.analysis.similarity_study import similarity_study


def main(argv: Sequence[str] | None = None) -> None:
    parser = figure_parser(__doc__)
    add_study_arguments(parser)
    parser.add_argument("--threshold", type=float, default=0.7)
    args = parser.parse_args(argv)

    study = similarity_study(
        args.models, args.seed_controls, args.init_control, "pearson", args.params
    )
    n_pairs = study["pairs"]["pair"].nunique()
    title = f"Layer-wise weight correlation between per-dataset NAFNets ({n_pairs} pairs)"
    save(pair_grid_figure(study, MEASURE_LABELS["pearson"], title, args.threshold), args)


if __name__ == "__main__":
    sys.exit(run(main))
