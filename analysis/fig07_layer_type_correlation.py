"""Fig. 7: per-filter Pearson correlation per dataset pair and layer type.

Paper Sec. 3.1 / App. A: the layer scores of Fig. 2 (Eq. 3–4) averaged over the layers
of each of the four types (1×1 conv, 3×3 conv, LayerNorm, SCA; see
``demoe.analysis.similarity.layer_type``), one row per pair of per-dataset NAFNets.
Below them, the control rows (ours): each model against the same training from another
seed, and against its own initialisation.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np
import pandas as pd

from demoe.analysis.plots.cli import run
from demoe.analysis.plots.weights import (
    MEASURE_LABELS,
    Drawn,
    add_study_arguments,
    heatmap_figure,
    similarity_main,
)
from demoe.analysis.similarity_study import similarity_study, type_matrix


def draw(args: argparse.Namespace) -> Drawn:
    """The heatmap of the pairs and their controls, and the study behind it."""
    study = similarity_study(
        args.models, args.seed_controls, args.init_control, "pearson", args.params
    )
    matrix = type_matrix(pd.concat(study.values(), ignore_index=True))
    separators = np.cumsum([t["pair"].nunique() for t in study.values()])[:-1]
    title = "Weight correlation by layer type between per-dataset NAFNets (controls below)"
    return heatmap_figure(matrix, title, MEASURE_LABELS["pearson"], separators), study


main = similarity_main(__doc__, "pearson", add_study_arguments, draw)

if __name__ == "__main__":
    sys.exit(run(main))
