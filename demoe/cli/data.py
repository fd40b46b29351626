"""``demoe data`` sub-commands: build AIO-Blur manifests, write the synthetic default."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import yaml

from demoe.errors import ConfigError


def _data_section(args: argparse.Namespace) -> dict:
    if args.data_json is not None:
        section = json.loads(args.data_json)
    elif args.config is not None:
        doc = yaml.safe_load(Path(args.config).read_text(encoding="utf-8")) or {}
        section = doc.get("data", {})
    else:
        section = {}
    if not isinstance(section, dict):
        raise ConfigError("the 'data' config section must be a mapping")
    return section


def _print_summary(report: dict) -> None:
    for name, entry in report["datasets"].items():
        found = {s: v["found"] for s, v in entry.get("splits", {}).items()}
        bal = entry.get("balance")
        extra = f" train {bal['original']}->{bal['final']} ({bal['action']})" if bal else ""
        print(f"{name:13s} {entry['status']:18s} found {found}{extra}")
        for split, info in entry.get("splits", {}).items():
            for kind, n in info["problems"]["counts"].items():
                example = info["problems"]["examples"][kind][0]
                print(
                    f"  warning: {name} {split}: {n} skipped ({kind}), e.g. {example}",
                    file=sys.stderr,
                )
    print(f"manifests: {report['manifests']}; skipped files: {report['problems']['total']}")


def _build(args: argparse.Namespace) -> int:
    from demoe.data.build import build_from_config

    report = build_from_config(_data_section(args), args.out, root=args.root, strict=args.strict)
    _print_summary(report)
    return 0


def _synth(args: argparse.Namespace) -> int:
    from demoe.data.synthetic.writer import synth_aioblur

    summary = synth_aioblur(args.out, scale=args.scale, seed=args.seed)
    total = sum(n for splits in summary["counts"].values() for n in splits.values())
    print(f"wrote {total} synthetic pairs ({args.scale}, seed {args.seed}) under {args.out}")
    return 0


def _pairs(args: argparse.Namespace) -> int:
    from demoe.data.build import build_pairs
    from demoe.tasks import resolve_task

    task = None if args.task == "none" else resolve_task(args.task)
    found = build_pairs(
        args.root,
        args.out,
        task=task,
        dataset=args.dataset,
        split=args.split,
        blurry=args.blurry,
        sharp=args.sharp,
        list_file=args.list,
    )
    print(f"{len(found.pairs)} pairs -> {args.out}; skipped {dict(found.problems.counts)}")
    return 0


def _store(args: argparse.Namespace) -> int:
    from demoe.data.manifest import read_manifest
    from demoe.data.store import build_store

    records = [r for r in read_manifest(args.manifest) if r.split == "train"]
    summary = build_store(records, args.out, workers=args.workers)
    print(
        f"decoded store {args.out}: {summary['images']} images "
        f"({summary['decoded']} decoded, {summary['reused']} reused, {summary['removed']} removed), "
        f"{summary['bytes'] / 2**30:.2f} GiB"
    )
    return 0


def _synth_lolv2(args: argparse.Namespace) -> int:
    from demoe.data.synthetic.lolv2 import synth_lolv2

    summary = synth_lolv2(args.out, scale=args.scale, seed=args.seed)
    print(f"wrote synthetic LOLv2-real {summary['counts']} ({args.scale}) under {args.out}")
    return 0


def _build_lolv2(args: argparse.Namespace) -> int:
    from demoe.data.lolv2 import build_lolv2_manifest

    layout = _data_section(args).get("layouts", {}).get("lolv2_real")
    counts = build_lolv2_manifest(args.root, args.out, layout)
    print(f"LOLv2-real pairs {counts} -> {args.out}")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``demoe data {build-aioblur,synth-aioblur,build-pairs,build-store}``."""
    data = subparsers.add_parser("data", help="datasets: AIO-Blur manifests, synthetic default")
    sub = data.add_subparsers(dest="data_command", required=True)

    build = sub.add_parser(
        "build-aioblur", help="AIO-Blur / AIO-Blur-OOD manifests from the published layouts"
    )
    build.add_argument("--root", help="folder holding the datasets (overrides data.root)")
    build.add_argument("--out", required=True, help="folder for manifests and build_report.json")
    build.add_argument("--config", help="YAML file whose 'data' section configures the build")
    build.add_argument("--data-json", help="the 'data' section as JSON (used by the DAG)")
    build.add_argument("--strict", action="store_true", help="fail if any file is skipped")
    build.set_defaults(func=_build)

    synth = sub.add_parser("synth-aioblur", help="write the embedded synthetic datasets")
    synth.add_argument("--out", required=True)
    synth.add_argument("--scale", default="small", choices=["small", "tiny"])
    synth.add_argument("--seed", type=int, default=0)
    synth.set_defaults(func=_synth)

    # Fig. 8 (App. A): LOLv2-real, the other task's training set (analysis helper).
    synth_lolv2 = sub.add_parser("synth-lolv2", help="write a synthetic LOLv2-real (Fig. 8)")
    synth_lolv2.add_argument("--out", required=True)
    synth_lolv2.add_argument("--scale", default="small", choices=["small", "tiny"])
    synth_lolv2.add_argument("--seed", type=int, default=0)
    synth_lolv2.set_defaults(func=_synth_lolv2)
    build_lolv2 = sub.add_parser("build-lolv2", help="LOLv2-real manifest (Fig. 8)")
    build_lolv2.add_argument("--root", required=True, help="the LOLv2 folder")
    build_lolv2.add_argument("--out", required=True, help="manifest file to write")
    build_lolv2.add_argument("--data-json", help="the data config section as JSON (layouts)")
    build_lolv2.add_argument("--config", help="a config file with a data section")
    build_lolv2.set_defaults(func=_build_lolv2)

    pairs = sub.add_parser("build-pairs", help="manifest for your own paired data")
    pairs.add_argument("--root", required=True)
    pairs.add_argument("--out", required=True, help="manifest file (.jsonl)")
    pairs.add_argument("--task", required=True, help="task name or alias, or 'none'")
    pairs.add_argument("--dataset", required=True, help="dataset label for the records")
    pairs.add_argument("--split", default="test", choices=["train", "test"])
    pairs.add_argument("--blurry", default="blur", help="blurry folder under --root")
    pairs.add_argument("--sharp", default="sharp", help="sharp folder under --root")
    pairs.add_argument("--list", help="list file of '<sharp> <blurry>' lines under --root")
    pairs.set_defaults(func=_pairs)

    store = sub.add_parser(
        "build-store", help="decode a manifest's training images once (fast training crops)"
    )
    store.add_argument("--manifest", required=True, help="training manifest (.jsonl)")
    store.add_argument("--out", required=True, help="store folder (index.json + .npy files)")
    store.add_argument("--workers", type=int, default=1, help="decoding processes")
    store.set_defaults(func=_store)
