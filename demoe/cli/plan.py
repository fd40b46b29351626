"""``demoe plan``: what a target costs before it runs (jobs, GPU-hours, disk; :mod:`demoe.plan`)."""

from __future__ import annotations

import argparse

from demoe.io.atomic import write_text
from demoe.plan import planned_jobs, render


def register(sub: argparse._SubParsersAction) -> None:
    plan = sub.add_parser(
        "plan",
        help="the bill of a Snakemake target under a config: jobs, GPU-hours, CPU-hours, "
        "disk by rule, and the training jobs that given checkpoints would remove",
    )
    plan.add_argument("targets", nargs="*", help="Snakemake targets (default: every target)")
    plan.add_argument(
        "--configfile",
        nargs="+",
        default=[],
        help="config files, as for snakemake (e.g. config/paper.yaml site.yaml)",
    )
    plan.add_argument("--out", help="also write the bill (Markdown) to this file")
    plan.set_defaults(func=_plan)


def _plan(args: argparse.Namespace) -> int:
    text = render(planned_jobs(args.configfile, args.targets))
    print(text, end="")
    if args.out:
        write_text(args.out, text)
    return 0
