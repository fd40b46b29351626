"""Fig. 9: per-filter RBF CKA per layer between the per-dataset NAFNets.

Paper App. A (Eq. 4–6), computed per filter like the correlations: the values of a
filter are the CKA examples (``demoe.analysis.similarity``); the RBF bandwidth is
``--sigma-factor`` × the median distance between them; a layer's score is the mean over
its filters. Bars are the mean over every pair of the given models, whiskers the min and
max over pairs. The dotted line is the expected score of unrelated random weights of each
layer's shape (RBF CKA is well above 0 for them); dots and crosses are the seed and
initialisation controls of Fig. 2.
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
    random_weight_reference,
    similarity_study,
    type_scores,
    write_scores_csv,
)


def main(argv: Sequence[str] | None = None) -> None:
    parser = figure_parser(__doc__)
    add_study_arguments(parser)
    parser.add_argument("--sigma-factor", type=float, default=0.5)
    parser.add_argument("--csv", help="also write per-type means (and the baseline) as CSV")
    args = parser.parse_args(argv)

    study = similarity_study(
        args.models,
        args.seed_controls,
        args.init_control,
        "rbf_cka",
        args.params,
        args.sigma_factor,
    )
    summary = layer_summary(study["pairs"])
    references = {
        "unrelated random weights (expected)": (
            "random",
            random_weight_reference(summary, "rbf_cka", args.sigma_factor),
        ),
        **control_references(study),
    }
    title = (
        f"Layer-wise per-filter RBF CKA (σ = {args.sigma_factor:g} × median distance), "
        f"mean over {study['pairs']['pair'].nunique()} pairs of per-dataset NAFNets"
    )
    save(layer_bar_figure(summary, MEASURE_LABELS["rbf_cka"], title, None, references), args)
    if args.csv:
        random = summary.assign(
            pair="unrelated random weights (expected)",
            score=summary["layer"].map(
                random_weight_reference(summary, "rbf_cka", args.sigma_factor)
            ),
        )
        write_scores_csv(type_scores({**study, "random": random}, "rbf_cka"), args.csv)


if __name__ == "__main__":
    sys.exit(run(main))
