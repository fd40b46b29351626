"""Table 9: Real-LOLBlur, no-reference metrics (NIQE, MUSIQ, NRQM).

Thin wrapper: the rows come from ``demoe.experiments.paper_tables``, the rendering from
``demoe.analysis.tables``; ``--help`` for the options.
"""

from demoe.analysis.tables import main

if __name__ == "__main__":
    main("table9_real_lolblur")
