"""Claims scoreboard: each claim of config/claims.yaml tested on this run's artifacts.

Thin wrapper around ``demoe.analysis.claims``; writes ``<out>.csv`` and ``<out>.md``
atomically and prints the Markdown. ``--help`` for the options.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from demoe.analysis.claims import Context, load_claims, render_markdown, scoreboard
from demoe.analysis.intervals import IntervalSettings
from demoe.analysis.labels import weights_note
from demoe.errors import run_reporting_errors
from demoe.io.atomic import write_text


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("--claims", required=True, help="claims file (config/claims.yaml)")
    parser.add_argument("--results", required=True, help="results folder of the run")
    parser.add_argument("--out", required=True, help="output prefix (.csv, .md)")
    parser.add_argument("--reported", help="folder of the paper's numbers (config/reported)")
    parser.add_argument(
        "--replicates",
        default="{}",
        help='seed replicates, JSON: {"experiment": n} (train.replicates)',
    )
    parser.add_argument(
        "--intervals", default="{}", help="interval settings, JSON (analysis.intervals)"
    )
    parser.add_argument(
        "--synthetic",
        choices=["yes", "no"],
        default="no",
        help="yes: the run's data are the embedded synthetic ones (scores not comparable with the paper's)",
    )
    parser.add_argument("--scale", default="", help="the run's scale line, printed at the top")
    parser.add_argument(
        "--models",
        nargs="*",
        default=[],
        help="model folders (or their config.json) whose weights the scoreboard names by SHA-256",
    )
    args = parser.parse_args(argv)
    settings = IntervalSettings.from_config({"analysis": {"intervals": json.loads(args.intervals)}})
    ctx = Context(
        results=Path(args.results),
        replicates=json.loads(args.replicates),
        settings=settings,
        synthetic=args.synthetic == "yes",
        reported=Path(args.reported) if args.reported else None,
    )
    board = scoreboard(load_claims(args.claims), ctx)
    weights = weights_note(
        {Path(m).parent.name if Path(m).is_file() else Path(m).name: m for m in args.models}
    )
    markdown = render_markdown(board, settings, args.scale, weights or "")
    write_text(f"{args.out}.csv", board.to_csv(index=False, float_format="%.6g"))
    write_text(f"{args.out}.md", markdown)
    print(markdown)
    return 0


if __name__ == "__main__":
    sys.exit(run_reporting_errors(Path(sys.argv[0]).name, main))
