"""Fig. 7: per-filter Pearson correlation per dataset pair and layer type.

Paper Sec. 3.1 / App. A: the layer scores of Fig. 2 (Eq. 3–4) averaged over the layers
of each of the four types (1×1 conv, 3×3 conv, LayerNorm, SCA; see
``demoe.analysis.similarity.layer_type``), one row per pair of per-dataset NAFNets.
Below them, the control rows (ours): each model against the same training from another
seed, and against its own initialisation.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

import numpy as np
import pandas as pd

from demoe.analysis.plots.cli import add_study_arguments, figure_parser, run, save
from demoe.analysis.plots.weights import (
    MEASURE_LABELS,
    heatmap_figure,
    similarity_study,
    type_matrix,
    type_scores,
    write_scores_csv,
)


def main(argv: Sequence[str] | None = None) -> None:
    parser = figure_parser(__doc__)
    add_study_arguments(parser)
    parser.add_argument("--csv", help="also write the cells as a tidy CSV")
    args = parser.parse_args(argv)

    study = similarity_study(
        args.models, args.seed_controls, args.init_control, "pearson", args.params
    )
    matrix = type_matrix(pd.concat(study.values(), ignore_index=True))
    separators = np.cumsum([t["pair"].nunique() for t in study.values()])[:-1]
    title = "Weight correlation by layer type between per-dataset NAFNets (controls below)"
    save(heatmap_figure(matrix, title, MEASURE_LABELS["pearson"], separators), args)
    if args.csv:
        write_scores_csv(type_scores(study, "pearson"), args.csv)


if __name__ == "__main__":
    sys.exit(run(main))
