"""The bill of a run before it runs: jobs, GPU-hours, CPU-hours and disk by rule.

Snakemake's dry run lists every job it would run with its rule, wildcards and resources
(``resources: gpu=4, runtime=4320, ...``). :func:`planned_jobs` reads that list and
:func:`bill` adds it up per rule: GPU-hours are ``gpu × runtime`` (the rules' ``runtime``
resource is minutes: the time limit each job asks the scheduler for, so the bill is an
upper bound of what the jobs use), CPU core-hours ``threads × runtime`` and disk the
``disk_mb`` resources the rules declare. Training jobs are also listed one by one: giving
an experiment's weights under ``checkpoints:`` (config) removes its training job.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from demoe.errors import ConfigError

#: The rule that trains a model (workflow/rules/train.smk); its wildcard names the experiment.
TRAIN_RULE = "train_model"
_RULE = re.compile(r"^(?:local)?rule (\w+):$")
_FIELD = re.compile(r"^\s+(\w+): (.*)$")


@dataclass
class PlannedJob:
    """One job of a dry run: its rule, wildcards and resources (numbers only)."""

    rule: str
    wildcards: dict[str, str] = field(default_factory=dict)
    resources: dict[str, float] = field(default_factory=dict)
    threads: int = 1

    @property
    def hours(self) -> float:
        return self.resources.get("runtime", 0.0) / 60.0

    @property
    def gpu_hours(self) -> float:
        return self.resources.get("gpu", 0.0) * self.hours

    @property
    def cpu_hours(self) -> float:
        return self.threads * self.hours

    @property
    def disk_gb(self) -> float:
        return self.resources.get("disk_mb", 0.0) / 1000.0


def parse_dry_run(text: str) -> list[PlannedJob]:
    """The jobs of a ``snakemake -n`` listing (the rule blocks; the summary is ignored)."""
    jobs: list[PlannedJob] = []
    for line in text.splitlines():
        if match := _RULE.match(line):
            jobs.append(PlannedJob(match.group(1)))
        elif jobs and (match := _FIELD.match(line)):
            _read_field(jobs[-1], *match.groups())
    return jobs


def _read_field(job: PlannedJob, key: str, value: str) -> None:
    if key == "wildcards":
        job.wildcards = dict(pair.split("=", 1) for pair in value.split(", ") if "=" in pair)
    elif key == "threads":
        job.threads = int(value)
    elif key == "resources":
        for pair in value.split(", "):
            name, _, number = pair.partition("=")
            try:
                job.resources[name] = float(number)
            except ValueError:
                continue  # tmpdir=/tmp, mem=64 GB: not numbers of the bill


def planned_jobs(
    configfiles: Sequence[str], targets: Sequence[str] = (), directory: str | Path = "."
) -> list[PlannedJob]:
    """Run the dry run of ``targets`` (default: every target) under ``configfiles`` with
    the Snakemake of this interpreter and read its job list; its first error line when
    Snakemake refuses the plan."""
    snakefile = Path(directory) / "Snakefile"
    if not snakefile.is_file():
        raise ConfigError(f"no Snakefile in {Path(directory).resolve()}: run from the repository")
    command = [sys.executable, "-m", "snakemake", "-n", "--cores", "1"]
    if configfiles:
        command += ["--configfile", *configfiles]
    command += list(targets)
    run = subprocess.run(command, cwd=directory, capture_output=True, text=True, check=False)
    if run.returncode != 0:
        reason = next(
            (ln.strip() for ln in (run.stderr + run.stdout).splitlines() if "rror" in ln),
            f"exit status {run.returncode}",
        )
        raise ConfigError(f"snakemake refused the plan: {reason}")
    return parse_dry_run(run.stdout)


BILL_COLUMNS: tuple[str, ...] = ("rule", "jobs", "gpu_hours", "cpu_hours", "disk_gb")


def bill(jobs: Sequence[PlannedJob]) -> pd.DataFrame:
    """Jobs, GPU-hours, CPU core-hours and declared disk (GB) per rule, largest GPU bill
    first, with a ``total`` row."""
    rows = pd.DataFrame(
        [(j.rule, 1, j.gpu_hours, j.cpu_hours, j.disk_gb) for j in jobs], columns=BILL_COLUMNS
    )
    per_rule = rows.groupby("rule", as_index=False).sum(numeric_only=True)
    per_rule = per_rule.sort_values(
        ["gpu_hours", "cpu_hours", "rule"], ascending=[False, False, True]
    )
    total = pd.DataFrame([("total", *per_rule[list(BILL_COLUMNS[1:])].sum())], columns=BILL_COLUMNS)
    frame = pd.concat([per_rule, total], ignore_index=True)
    return frame.astype({"jobs": int})


def trainings(jobs: Sequence[PlannedJob]) -> pd.DataFrame:
    """One row per training job: the experiment and what giving its weights saves."""
    rows = [
        (j.wildcards.get("experiment", "?"), j.resources.get("gpu", 0.0), j.hours, j.gpu_hours)
        for j in jobs
        if j.rule == TRAIN_RULE
    ]
    frame = pd.DataFrame(rows, columns=["experiment", "gpus", "hours", "gpu_hours"])
    return frame.sort_values(
        ["gpu_hours", "experiment"], ascending=[False, True], ignore_index=True
    )


def render(jobs: Sequence[PlannedJob]) -> str:
    """The bill as Markdown: per rule, then the training jobs."""
    by_rule = bill(jobs).to_markdown(index=False, floatfmt=".1f")
    text = [
        "Bill of the planned jobs (GPU-hours = gpus × runtime; runtime is each job's "
        "requested time limit, so these are upper bounds):",
        "",
        by_rule,
    ]
    train = trainings(jobs)
    if len(train):
        text += [
            "",
            f"{len(train)} training jobs; `checkpoints: {{<experiment>: <file>}}` in the "
            "config removes an experiment's training:",
            "",
            train.to_markdown(index=False, floatfmt=".1f"),
        ]
    return "\n".join(text) + "\n"
