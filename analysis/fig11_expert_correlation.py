"""Fig. 11: correlation between the five experts of every MoE block of the trained DeMoE.

Paper App. A: entry (i, j) of a block's matrix is the mean over layers of the per-filter
Pearson correlation (Eq. 3–4) between experts i and j; one 5×5 matrix per MoE block
(MoE 1 after the middle blocks, MoE 2–5 after decoder levels 1–4).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from demoe.analysis.plots.cli import figure_parser, run, save
from demoe.analysis.plots.labels import with_weights_source
from demoe.analysis.plots.weights import MEASURE_LABELS, expert_figure, expert_matrices
from demoe.io.checkpoint import read_state_dict


def main(argv: Sequence[str] | None = None) -> None:
    parser = figure_parser(__doc__)
    parser.add_argument("--model", required=True, help="trained DeMoE model file")
    parser.add_argument("--params", choices=["weight", "all"], default="weight")
    args = parser.parse_args(argv)

    matrices = expert_matrices(read_state_dict(args.model), "pearson", args.params)
    title = with_weights_source(
        "Weight correlation between the experts of each DeMoE MoE block", args.model
    )
    save(expert_figure(matrices, title, MEASURE_LABELS["pearson"]), args)


if __name__ == "__main__":
    sys.exit(run(main))
