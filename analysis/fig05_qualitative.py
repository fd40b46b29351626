"""Fig. 5: qualitative results on AIO-Blur.

One row per AIO-Blur test set (its ``--index``-th test image): blurry input, the
dataset's task-specific NAFNet (``nafnet_<dataset>``), DeMoE with the router (top-1
expert), sharp ground truth; the same central crop for every column.
"""

import sys

from demoe.analysis.plots.cli import run
from demoe.analysis.plots.qualitative import qualitative_main

TITLE = "AIO-Blur: task-specific NAFNet vs. DeMoE (router, top-1 expert)"


def main(argv=None) -> None:
    qualitative_main(__doc__, TITLE, argv)


if __name__ == "__main__":
    sys.exit(run(main))
