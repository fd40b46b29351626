"""Table 2: OOD sets (RealDOF, RSBlur, Real-LOLBlur), router vs. manual expert.

Thin wrapper: the rows come from ``demoe.experiments.paper_tables``, the rendering from
``demoe.analysis.table_render``; ``--help`` for the options.
"""

import sys

from demoe.analysis.table_render import main

if __name__ == "__main__":
    sys.exit(main("table2_ood"))
