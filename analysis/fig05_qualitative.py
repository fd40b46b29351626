"""Fig. 5: qualitative results on AIO-Blur.

Per AIO-Blur test set (its ``--index``-th test image): blurry input, the dataset's
task-specific NAFNet (``nafnet_<dataset>``), DeMoE with the router (top-1 expert), sharp
ground truth, the same central crop for every column with a box around the region where
the input differs most from the ground truth; under them that region enlarged, and each
image's PSNR against its ground truth (whole image, 8-bit output). Column width, 7 pt.
"""

import sys

from demoe.analysis.plots.cli import run
from demoe.analysis.plots.qualitative import qualitative_main

TITLE = "AIO-Blur: task-specific NAFNet vs. DeMoE (router, top-1 expert)"


def main(argv=None) -> None:
    qualitative_main(__doc__, TITLE, argv)


if __name__ == "__main__":
    sys.exit(run(main))
