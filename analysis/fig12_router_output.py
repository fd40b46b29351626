"""Fig. 12 (router output): mean router probability of every expert per test set.

Reads DeMoE's per-image evaluations with the router (``results/eval/demoe/<dataset>/
auto.csv``, columns ``prob_<task>``) on AIO-Blur and AIO-Blur-OOD.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from demoe.analysis.labels import titled_with_source
from demoe.analysis.plots.cli import figure_parser, run, save
from demoe.analysis.plots.router import mean_router_probs, read_router_eval, router_probs_figure


def main(argv: Sequence[str] | None = None) -> None:
    parser = figure_parser(__doc__)
    parser.add_argument("--csv", nargs="+", required=True, help="per-image eval CSVs")
    parser.add_argument("--weights-source", help="checkpoint file name of given DeMoE weights")
    args = parser.parse_args(argv)
    means = mean_router_probs(read_router_eval(args.csv))
    title = titled_with_source(
        "DeMoE router: mean expert probability per test set", args.weights_source
    )
    save(router_probs_figure(means, title), args)


if __name__ == "__main__":
    sys.exit(run(main))
