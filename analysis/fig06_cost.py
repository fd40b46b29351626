"""Fig. 6: computational cost of the compared models (parameters, MACs, runtime).

Reads the cost table (``results/tables/cost.csv``, Table 1 cost column): MACs against
parameters, one point per model, labelled with its median runtime.
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
