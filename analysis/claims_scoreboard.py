"""Claims scoreboard: each claim of config/claims.yaml tested on this run's artifacts.

Thin wrapper around ``demoe.analysis.claims``; writes ``<out>.csv`` and ``<out>.md``
atomically and prints the Markdown. ``--help`` for the options.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from demoe.analysis.claims import load_claims, render_markdown, scoreboard
from demoe.errors import run_reporting_errors
from demoe.io.atomic import write_text


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("--claims", required=True, help="claims file (config/claims.yaml)")
    parser.add_argument("--results", required=True, help="results folder of the run")
    parser.add_argument("--out", required=True, help="output prefix (.csv, .md)")
    args = parser.parse_args(argv)
    board = scoreboard(load_claims(args.claims), args.results)
    markdown = render_markdown(board)
    write_text(f"{args.out}.csv", board.to_csv(index=False, float_format="%.6g"))
    write_text(f"{args.out}.md", markdown)
    print(markdown)
    return 0


if __name__ == "__main__":
    sys.exit(run_reporting_errors(Path(sys.argv[0]).name, main))
