"""``demoe train`` (run one training config) and ``demoe train-config`` (resolve one).

    demoe train CONFIG.yaml [key=value …] [--resume PATH|auto]
    demoe train EXPERIMENT --profile config/config.yaml [key=value …]
    torchrun --nproc-per-node 4 -m demoe.cli train CONFIG.yaml

CONFIG is a resolved config file (``demoe train-config`` writes one), a resolved config
as an inline JSON object (what the DAG passes), or an experiment name from
``demoe.experiments.catalogue.EXPERIMENTS`` resolved with the ``train:`` section of ``--profile``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import yaml

from demoe.errors import ConfigError
from demoe.experiments.catalogue import (
    EXPERIMENTS,
    experiment_names,
    resolve_dict,
    seed_replicates,
)
from demoe.train.config import (
    TrainConfig,
    apply_overrides,
    dump_config,
    from_dict,
    load_config,
    write_config,
)


def register(sub: argparse._SubParsersAction) -> None:
    train = sub.add_parser("train", help="train a model (a config file or a named experiment)")
    train.add_argument(
        "config", help="resolved config YAML, inline JSON config, or an experiment name"
    )
    train.add_argument("overrides", nargs="*", help="dotted key=value overrides")
    train.add_argument("--resume", help="checkpoint file, checkpoint folder, or 'auto'")
    _profile_args(train)
    train.set_defaults(func=_train)

    show = sub.add_parser("train-config", help="print or write an experiment's resolved config")
    show.add_argument("experiment", nargs="?", help="experiment name (omit to list them)")
    show.add_argument("overrides", nargs="*", help="dotted key=value overrides")
    show.add_argument("-o", "--output", help="write the YAML here instead of printing it")
    _profile_args(show)
    show.set_defaults(func=_show)


def _profile_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--profile", default="config/config.yaml", help="YAML with a train: section"
    )
    parser.add_argument("--results", default=None, help="results folder (default: profile's)")


def resolve_cli_config(
    name: str, overrides: list[str], profile: str, results: str | None
) -> TrainConfig:
    """A config file, an inline JSON config, or experiment ``name`` resolved with the
    profile file's ``train:`` section."""
    if name.lstrip().startswith("{"):
        try:
            obj = json.loads(name)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"inline config is not valid JSON: {exc}") from exc
        return from_dict(apply_overrides(obj, overrides))
    if Path(name).is_file():
        return load_config(name, overrides)
    path = Path(profile)
    if not path.is_file():
        raise ConfigError(f"profile not found: {path}")
    top = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if "train" not in top:
        raise ConfigError(f"{path} has no train: section")
    replicates = seed_replicates(top)  # the profile's train.replicates: <experiment>_rep<k>
    names = experiment_names(replicates)
    if name not in names:
        raise ConfigError(
            f"{name!r} is neither a config file nor an experiment; experiments: {', '.join(names)}"
        )
    obj = resolve_dict(name, top["train"], results or top.get("results", "results"), replicates)
    return from_dict(apply_overrides(obj, overrides))


def _train(args: argparse.Namespace) -> int:
    from demoe.train.loop import train  # torch-heavy: only when training

    config = resolve_cli_config(args.config, args.overrides, args.profile, args.results)
    out = train(config, resume=args.resume)
    if os.environ.get("RANK", "0") == "0":  # torchrun: one line, from rank 0
        print(f"trained {config.experiment}: {out}", file=sys.stderr)
    return 0


def _show(args: argparse.Namespace) -> int:
    if args.experiment is None:
        for name, exp in EXPERIMENTS.items():
            print(f"{name}: {exp.description}")
        return 0
    config = resolve_cli_config(args.experiment, args.overrides, args.profile, args.results)
    if args.output:
        write_config(config, args.output)
    else:
        print(dump_config(config), end="")
    return 0
