"""Fig. 14: qualitative results on AIO-Blur-OOD (unseen datasets).

Per OOD test set (its ``--index``-th test image): blurry input, the NAFNet of the
AIO-Blur dataset with the same task (RealDOF → DPDD, RSBlur → RealBlur-J, Real-LOLBlur →
LOLBlur), DeMoE with the router (top-1 expert), and the sharp ground truth ("no ground
truth" for unpaired sets such as Real-LOLBlur); same central crop, a box around the
zoomed region; under them that region enlarged and each image's PSNR against its ground
truth ("n/a" without one). As Fig. 5 (``demoe.analysis.plots.qualitative``).
"""

import sys

from demoe.analysis.plots.cli import run
from demoe.analysis.plots.qualitative import qualitative_main

TITLE = "AIO-Blur-OOD: NAFNet of the same task vs. DeMoE (router, top-1 expert)"


def main(argv=None) -> None:
    qualitative_main(__doc__, TITLE, argv)


if __name__ == "__main__":
    sys.exit(run(main))
