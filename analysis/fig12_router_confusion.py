"""Fig. 12 (router confusion): true task × routed task on the AIO-Blur test sets.

Reads DeMoE's per-image evaluations with the router (``results/eval/demoe/<dataset>/
auto.csv``: ``task`` and ``routed``, the top-1 expert); the title gives top-1 accuracy.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from demoe.analysis.labels import with_weights_source
from demoe.analysis.plots.cli import figure_parser, run, save
from demoe.analysis.plots.router import confusion_figure, read_router_eval, router_confusion


def main(argv: Sequence[str] | None = None) -> None:
    parser = figure_parser(__doc__)
    parser.add_argument("--csv", nargs="+", required=True, help="per-image eval CSVs")
    parser.add_argument(
        "--model", help="DeMoE's model folder or its config.json (names given weights)"
    )
    args = parser.parse_args(argv)
    matrix, accuracy = router_confusion(read_router_eval(args.csv))
    title = with_weights_source("DeMoE router on the AIO-Blur test sets", args.model)
    save(confusion_figure(matrix, accuracy, title), args)


if __name__ == "__main__":
    sys.exit(run(main))
