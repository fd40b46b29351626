"""Table 1: all-in-one deblurring on the five AIO-Blur test sets, with cost.

Thin wrapper: the rows come from ``demoe.experiments.paper_tables``, the rendering from
``demoe.analysis.table_render``; ``--help`` for the options.
"""

import sys

from demoe.analysis.table_render import main

if __name__ == "__main__":
    sys.exit(main("table1_aio_deblurring"))
