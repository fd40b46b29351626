"""Write a results table's Markdown as an HTML page for `snakemake --report`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from demoe.analysis.report_html import markdown_table_page
from demoe.errors import run_reporting_errors
from demoe.io.atomic import write_text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--md", required=True, type=Path, help="results/tables/<name>.md")
    parser.add_argument("--html", required=True, type=Path, help="the page to write")
    parser.add_argument("--title", required=True, help="page title (the paper's table number)")
    args = parser.parse_args()
    write_text(args.html, markdown_table_page(args.md.read_text(encoding="utf-8"), args.title))


if __name__ == "__main__":
    sys.exit(run_reporting_errors(Path(sys.argv[0]).name, main))
