"""The cost table: every model the paper gives a size for, ours beside the paper's.

Writes results/tables/cost.{csv,md}: per model preset, parameters (M), MACs (G) at
size×size (ptflops, see ``demoe.eval.cost``) and mean runtime (ms) on the named device,
beside the reported values of Table 1 (NAFNet, DeMoE k=1), Table 5 (right, and the
width-64 model of App. F) and Sec. 5 (DeMoE-5), read from ``config/reported/``. The
paper's runtimes are on an RTX 4090 (Table 1), so runtimes on another device do not
compare directly; the ``device`` column says which.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from demoe.errors import run_reporting_errors
from demoe.eval.cost import cost_table
from demoe.experiments.paper_rows import COST_ROWS
from demoe.io.atomic import write_text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", required=True)
    parser.add_argument(
        "--reported", nargs="*", default=[], help="config/reported/ files with the paper's costs"
    )
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--csv", required=True)
    parser.add_argument("--md", required=True)
    args = parser.parse_args()

    table = cost_table(
        args.models, args.reported, COST_ROWS, args.size, args.device, args.repeats, args.warmup
    )
    write_text(args.csv, table.to_csv(index=False, float_format="%.6g"))
    write_text(args.md, table.to_markdown(index=False, floatfmt=".4g") + "\n")


if __name__ == "__main__":
    sys.exit(run_reporting_errors(Path(sys.argv[0]).name, main))
