"""``python -m demoe.cli``: the ``demoe`` command (the Snakemake rules call it so)."""

import sys

from demoe.cli import main

sys.exit(main())
