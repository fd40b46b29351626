"""Fig. 6 (left): computational cost of the models (parameters, MACs, runtime), ours vs reported.

Reads the cost table (``results/tables/cost.csv``, with the paper's values beside ours):
MACs against parameters, ours filled and the paper's hollow, labelled with the runtime.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from demoe.analysis.plots.cli import figure_parser, run, save
from demoe.analysis.plots.cost import cost_figure, read_cost


def main(argv: Sequence[str] | None = None) -> None:
    parser = figure_parser(__doc__)
    parser.add_argument("--cost", required=True, help="results/tables/cost.csv")
    args = parser.parse_args(argv)
    save(cost_figure(read_cost(args.cost)), args)


if __name__ == "__main__":
    sys.exit(run(main))
