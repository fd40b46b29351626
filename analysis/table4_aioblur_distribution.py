"""Table 4: AIO-Blur sample distribution, original and final training counts per dataset.

Reads build_report.json (from `demoe data build-aioblur`) and writes
results/tables/table4_aioblur_distribution.{csv,md}: per dataset its task, the
training pairs found, the pairs after balancing (repeated or MSE-subsampled,
Fig. 10), the action, the test pairs, and the paper's own counts for reference.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pandas as pd

from demoe.io.atomic import write_text
from demoe.tasks import AIO_BLUR, AIO_BLUR_OOD


def table4(report: dict) -> pd.DataFrame:
    """One row per AIO-Blur dataset, then the OOD sets (test only), then the total."""
    rows = []
    for name in (*AIO_BLUR, *AIO_BLUR_OOD):
        entry = report["datasets"].get(name)
        if entry is None or "splits" not in entry:
            continue
        bal = entry.get("balance", {})
        splits = entry["splits"]
        rows.append(
            {
                "dataset": entry["display"],
                "task": entry["task"],
                "set": "AIO-Blur-OOD" if entry["ood"] else "AIO-Blur",
                "train_original": splits.get("train", {}).get("found"),
                "train_final": bal.get("final"),
                "action": bal.get("action", "-"),
                "factor": bal.get("factor"),
                "test": splits["test"]["found"],
                "paper_original": bal.get("paper_original"),
                "paper_final": bal.get("paper_final"),
            }
        )
    table = pd.DataFrame(rows)
    total = {"dataset": "Total", "task": "", "set": "AIO-Blur", "action": ""}
    aio = table[table["set"] == "AIO-Blur"]
    for col in ("train_original", "train_final", "test", "paper_original", "paper_final"):
        total[col] = aio[col].sum()
    table = pd.concat([table, pd.DataFrame([total])], ignore_index=True)
    int_cols = ["train_original", "train_final", "test", "paper_original", "paper_final"]
    table[int_cols] = table[int_cols].astype("Int64")
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--report", required=True, help="build_report.json")
    parser.add_argument("--csv", required=True)
    parser.add_argument("--md", required=True)
    args = parser.parse_args()
    table = table4(json.loads(Path(args.report).read_text(encoding="utf-8")))
    write_text(args.csv, table.to_csv(index=False))
    shown = table.astype(object).where(table.notna(), None)
    write_text(args.md, shown.to_markdown(index=False, missingval="-") + "\n")


if __name__ == "__main__":
    main()
