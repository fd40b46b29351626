"""Table 5: architecture ablations (residual/attention connection, width, blocks).

Thin wrapper: the rows come from ``demoe.experiments.paper_tables``, the rendering from
``demoe.analysis.table_render``; ``--help`` for the options.
"""

import sys

from demoe.analysis.table_render import main

if __name__ == "__main__":
    sys.exit(main("table5_ablations"))
