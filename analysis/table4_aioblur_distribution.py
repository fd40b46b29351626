"""Table 4: AIO-Blur sample distribution, original and final training counts per dataset.

Reads build_report.json (from `demoe data build-aioblur`) and writes
results/tables/table4_aioblur_distribution.{csv,md}: per dataset, in the paper's row
order, its task, the training pairs found, the pairs after balancing (repeated or
MSE-subsampled, Fig. 10), the action, the test pairs, and beside them the paper's counts
(``reported_*``, Table 4; the same numbers as config/reported/table4_aioblur_distribution.csv).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import pandas as pd

from demoe.analysis.table_render import markdown_notes
from demoe.errors import run_reporting_errors
from demoe.io.atomic import write_text
from demoe.tasks import AIO_BLUR_OOD

#: The rows of the paper's Table 4, in its order.
TABLE4_ORDER: tuple[str, ...] = ("realblur_j", "reloblur", "lolblur", "gopro", "dpdd")
COUNTS: list[str] = ["train_original", "train_final", "test", "reported_original", "reported_final"]
CAPTION = "Table 4: AIO-Blur sample distribution (training pairs before and after balancing)"
#: Markdown headers (the paper's "Original Sample" / "Final Sample").
HEADERS: dict[str, str] = {
    "reported_original": "reported original (Table 4)",
    "reported_final": "reported final (Table 4)",
}


def table4(report: dict) -> pd.DataFrame:
    """One row per AIO-Blur dataset (Table 4 order), then the OOD sets (test only), then the total."""
    rows = []
    for name in (*TABLE4_ORDER, *AIO_BLUR_OOD):
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
                "reported_original": bal.get("paper_original"),
                "reported_final": bal.get("paper_final"),
            }
        )
    table = pd.DataFrame(rows)
    total = {"dataset": "Total", "task": "", "set": "AIO-Blur", "action": ""}
    aio = table[table["set"] == "AIO-Blur"]
    for col in COUNTS:
        total[col] = aio[col].sum()
    table = pd.concat([table, pd.DataFrame([total])], ignore_index=True)
    table[COUNTS] = table[COUNTS].astype("Int64")
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--report", required=True, help="build_report.json")
    parser.add_argument("--csv", required=True)
    parser.add_argument("--md", required=True)
    parser.add_argument(
        "--note", action="append", default=[], help="a note under the table (the run's scale)"
    )
    args = parser.parse_args()
    table = table4(json.loads(Path(args.report).read_text(encoding="utf-8")))
    write_text(args.csv, table.to_csv(index=False))
    shown = table.astype(object).where(table.notna(), None)
    shown = shown.rename(columns=HEADERS)
    body = shown.to_markdown(index=False, missingval="-")
    write_text(args.md, f"**{CAPTION}**\n\n{body}\n\n{markdown_notes(args.note)}")


if __name__ == "__main__":
    sys.exit(run_reporting_errors(Path(sys.argv[0]).name, main))
