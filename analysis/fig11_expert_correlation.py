"""Fig. 11: correlation between the five experts of DeMoE, per expert pair and layer type.

Paper App. D: the per-filter Pearson correlation (Eq. 3–4) of every layer of expert i
with the same layer of expert j, averaged over the layers of each of the four types
(1×1 conv, 3×3 conv, LayerNorm, SCA) of every MoE block; one row per expert pair (10
pairs of the five experts).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from demoe.analysis.plots.cli import figure_parser, run, save
from demoe.analysis.plots.labels import with_weights_source
from demoe.analysis.plots.weights import (
    MEASURE_LABELS,
    expert_type_scores,
    heatmap_figure,
    type_matrix,
    type_scores,
    write_scores_csv,
)
from demoe.io.checkpoint import read_state_dict


def main(argv: Sequence[str] | None = None) -> None:
    parser = figure_parser(__doc__)
    parser.add_argument("--model", required=True, help="trained DeMoE model file")
    parser.add_argument("--params", choices=["weight", "all"], default="weight")
    parser.add_argument("--csv", help="also write the cells as a tidy CSV")
    args = parser.parse_args(argv)

    scores = expert_type_scores(read_state_dict(args.model), "pearson", args.params)
    title = with_weights_source(
        "Weight correlation between DeMoE experts by layer type "
        f"(mean over {scores['moe'].nunique()} MoE blocks)",
        args.model,
    )
    save(heatmap_figure(type_matrix(scores), title, MEASURE_LABELS["pearson"]), args)
    if args.csv:
        write_scores_csv(type_scores({"experts": scores}, "pearson"), args.csv)


if __name__ == "__main__":
    sys.exit(run(main))
