"""Computational cost of the compared models: the "Computational Cost" column of Table 1.

Writes results/tables/cost.{csv,md}: params (M), MACs (G) at size×size and median
runtime (ms) per model preset, with the device the runtime was measured on.
"""

from __future__ import annotations

import argparse

import pandas as pd

from demoe.eval.cost import measure_cost
from demoe.io.atomic import write_text
from demoe.models.registry import create_model

LABELS = {
    "nafnet_original": "NAFNet (original, width 32)",
    "demoe_baseline": "NAFNet baseline (ours, k=1 network)",
    "demoe": "DeMoE (k=1)",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", required=True)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--csv", required=True)
    parser.add_argument("--md", required=True)
    args = parser.parse_args()

    rows = []
    for name in args.models:
        cost = measure_cost(
            name, create_model(name), args.size, args.device, args.repeats, args.warmup
        )
        rows.append({"method": LABELS.get(name, name), **cost.as_dict()})
    table = pd.DataFrame(rows)
    write_text(args.csv, table.to_csv(index=False, float_format="%.4g"))
    write_text(args.md, table.to_markdown(index=False, floatfmt=".4g") + "\n")


if __name__ == "__main__":
    main()
