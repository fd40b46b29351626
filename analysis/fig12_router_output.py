"""Fig. 12 (router output): mean router probability of every expert per test set.

Reads DeMoE's per-image evaluations with the router (``results/eval/demoe/<dataset>/
auto.csv``, columns ``prob_<task>``) on AIO-Blur and AIO-Blur-OOD.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from demoe.analysis.labels import with_weights_source
from demoe.analysis.plots.cli import figure_parser, run, save
from demoe.analysis.plots.router import mean_router_probs, read_router_eval, router_probs_figure


def main(argv: Sequence[str] | None = None) -> None:
    parser = figure_parser(__doc__)
    parser.add_argument("--csv", nargs="+", required=True, help="per-image eval CSVs")
    parser.add_argument(
        "--model", help="DeMoE's model folder or its config.json (names given weights)"
    )
    args = parser.parse_args(argv)
    means = mean_router_probs(read_router_eval(args.csv))
    title = with_weights_source("DeMoE router: mean expert probability per test set", args.model)
    save(router_probs_figure(means, title), args)


if __name__ == "__main__":
    sys.exit(run(main))
