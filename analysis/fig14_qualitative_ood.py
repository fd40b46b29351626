"""Fig. 14: qualitative results on AIO-Blur-OOD (unseen datasets).

One row per OOD test set (its ``--index``-th test image): blurry input, the NAFNet of
the AIO-Blur dataset with the same task (RealDOF → DPDD, RSBlur → RealBlur-J,
Real-LOLBlur → LOLBlur), DeMoE with the router (top-1 expert), and the sharp ground
truth ("no ground truth" for unpaired sets such as Real-LOLBlur); same central crop.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from demoe.analysis.plots.cli import figure_parser, run, save
from demoe.analysis.plots.labels import model_name
from demoe.analysis.plots.qualitative import (
    add_qualitative_args,
    qualitative_figure,
    qualitative_rows,
)
from demoe.data.manifest import read_manifest


def main(argv: Sequence[str] | None = None) -> None:
    parser = figure_parser(__doc__)
    add_qualitative_args(parser)
    args = parser.parse_args(argv)
    paths = {model_name(p): p for p in args.task_specific}
    rows = qualitative_rows(
        read_manifest(args.manifest),
        args.datasets,
        paths,
        args.demoe,
        args.crop,
        args.index,
        args.device,
    )
    title = "AIO-Blur-OOD: NAFNet of the same task vs. DeMoE (router, top-1 expert)"
    save(qualitative_figure(rows, title), args)


if __name__ == "__main__":
    sys.exit(run(main))
