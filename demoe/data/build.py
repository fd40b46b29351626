"""Build the AIO-Blur and AIO-Blur-OOD manifests (paper Sec. 4, Table 4, Fig. 10).

``build_aioblur`` reads every dataset in its published layout (see
:mod:`demoe.data.layouts`), balances the training split as Table 4 does and
writes, atomically, into ``out``:

* ``aioblur_train.jsonl``, ``aioblur_test.jsonl``, ``aioblur_ood.jsonl``;
* ``build_report.json``: per dataset the pairs found and kept, what was
  repeated or subsampled, the MSE bin edges and counts, every problem, and how
  many images were decoded (the time it took goes to stderr);
* ``mse_pairs.csv``: the blurry/sharp MSE of every pair of an MSE-subsampled
  dataset (LOLBlur), its bin and whether it was drawn (the data of Fig. 10).

Every image is decoded fully before it enters a manifest (in parallel threads: the
decoders release the GIL), so a truncated, zero-byte, unreadable or unsupported file
is skipped and counted under its kind (``demoe.data.images.PROBLEM_KINDS``) the same
way in every dataset, instead of aborting training at step N or the LOLBlur MSE pass.
"""

from __future__ import annotations

import inspect
import os
import sys
import time
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from demoe.data.balance import (
    PAPER_FINAL,
    PAPER_ORIGINAL,
    Plan,
    mse_bin_select,
    pair_mse,
    plan_balance,
    repeat_indices,
)
from demoe.data.images import image_problem, read_hwc
from demoe.data.layouts import ADAPTERS, Found, Pair, pairs
from demoe.data.manifest import Record, write_manifest
from demoe.errors import ConfigError, DataError
from demoe.io.atomic import atomic_path, write_json
from demoe.paths import AIO_MANIFEST_FILES, BUILD_REPORT_FILE, MSE_PAIRS_FILE
from demoe.tasks import AIO_BLUR, AIO_BLUR_OOD, DATASETS

#: Folder of each dataset under a common root, as the datasets are published.
DEFAULT_ROOTS: dict[str, str] = {
    "dpdd": "DPDD",
    "realblur_j": "RealBlur",
    "reloblur": "ReLoBlur",
    "gopro": "GOPRO_Large",
    "lolblur": "LOLBlur",
    "realdof": "RealDOF",
    "rsblur": "RSBlur",
    "real_lolblur": "Real-LOLBlur",
}


@dataclass(frozen=True)
class BalanceConfig:
    """``data.balance``: Table 4 targets, the paper's original sizes, and the MSE rule."""

    mode: str = "scale"
    seed: int = 0
    reference: Mapping[str, int] = field(default_factory=lambda: dict(PAPER_ORIGINAL))
    final: Mapping[str, int] = field(default_factory=lambda: dict(PAPER_FINAL))
    mse_bins: int = 4
    drop_last: int = 1

    @classmethod
    def from_config(cls, section: Mapping[str, Any] | None) -> BalanceConfig:
        section = dict(section or {})
        unknown = set(section) - {f.name for f in cls.__dataclass_fields__.values()}
        if unknown:
            raise ConfigError(f"data.balance: unknown keys {sorted(unknown)}")
        return cls(**section)


def resolve_roots(
    root: str | os.PathLike | None, roots: Mapping[str, str | None] | None = None
) -> dict[str, Path]:
    """Dataset roots: ``roots[name]`` (default: the published folder name) under ``root``.

    Absolute entries are kept; ``None`` entries drop the dataset.
    """
    merged: dict[str, str | None] = {**DEFAULT_ROOTS, **(roots or {})}
    unknown = set(merged) - set(DATASETS)
    if unknown:
        raise ConfigError(
            f"data.roots: unknown datasets {sorted(unknown)}; known: {list(DATASETS)}"
        )
    base = Path(root) if root is not None else Path()
    return {name: base / path for name, path in merged.items() if path is not None}


def _layout_kwargs(name: str, overrides: Mapping[str, Any]) -> dict[str, Any]:
    adapter = ADAPTERS[name][0]
    allowed = [p for p in inspect.signature(adapter).parameters if p not in ("root", "split")]
    unknown = set(overrides) - set(allowed)
    if unknown:
        raise ConfigError(
            f"data.layouts.{name}: unknown keys {sorted(unknown)}; allowed: {allowed}"
        )
    return dict(overrides)


def scan_dataset(
    name: str, root: Path, overrides: Mapping[str, Any] | None = None
) -> dict[str, Found]:
    """Run the dataset's layout adapter on each of its splits."""
    adapter, splits = ADAPTERS[name]
    kwargs = _layout_kwargs(name, overrides or {})
    return {split: adapter(root, split, **kwargs) for split in splits}


def _records(name: str, pairs: Iterable[Pair], split: str) -> list[Record]:
    task = DATASETS[name].task
    return [
        Record(str(p.blurry), None if p.sharp is None else str(p.sharp), task, name, split)
        for p in pairs
    ]


def _mse_table(name: str, pairs: list[Pair], balance: BalanceConfig, target: int):
    mse = np.array([pair_mse(read_hwc(p.blurry), read_hwc(p.sharp)) for p in pairs])
    sel = mse_bin_select(mse, target, balance.mse_bins, balance.drop_last, balance.seed)
    selected = np.zeros(len(pairs), dtype=bool)
    selected[sel.indices] = True
    table = pd.DataFrame(
        {
            "dataset": name,
            "blurry": [str(p.blurry) for p in pairs],
            "sharp": [str(p.sharp) for p in pairs],
            "mse": mse,
            "bin": sel.bin_of,
            "selected": selected,
        }
    )
    return sel, table


def _balance_train(
    found: dict[str, dict[str, Found]], balance: BalanceConfig
) -> tuple[list[Record], dict[str, dict], pd.DataFrame]:
    counts = {n: len(f["train"].pairs) for n, f in found.items() if n in AIO_BLUR}
    plans: dict[str, Plan] = plan_balance(counts, balance.final, balance.reference, balance.mode)
    records, summary, tables = [], {}, []
    for name, plan in plans.items():
        pairs = found[name]["train"].pairs
        info: dict[str, Any] = {
            "original": plan.original,
            "target": plan.target,
            "action": plan.action,
            "paper_original": balance.reference.get(name),
            "paper_final": balance.final.get(name),
        }
        if plan.action == "mse_bins":
            if any(p.sharp is None for p in pairs):
                raise DataError(f"{name}: the MSE rule needs paired training data")
            sel, table = _mse_table(name, pairs, balance, plan.target)
            chosen = [pairs[i] for i in sel.indices]
            info["mse"] = sel.summary()
            tables.append(table)
        else:
            chosen = [pairs[i] for i in repeat_indices(len(pairs), plan.target)]
        info["final"] = len(chosen)
        info["factor"] = round(len(chosen) / plan.original, 4)
        records += _records(name, chosen, "train")
        summary[name] = info
    columns = ["dataset", "blurry", "sharp", "mse", "bin", "selected"]
    mse_table = pd.concat(tables) if tables else pd.DataFrame(columns=columns)
    return records, summary, mse_table


def _decode_all(found: dict[str, dict[str, Found]], workers: int | None) -> dict[str, Any]:
    """Decode every image of every pair fully; drop the pairs with a bad file and count
    each bad file under its kind in its split's problems. Returns the counts."""
    paths = sorted(
        {
            str(f)
            for splits in found.values()
            for fd in splits.values()
            for p in fd.pairs
            for f in (p.blurry, p.sharp)
            if f is not None
        }
    )
    workers = workers or min(32, os.cpu_count() or 1)
    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=workers) as pool:
        bad = {p: e for p, e in zip(paths, pool.map(image_problem, paths), strict=True) if e}
    seconds = time.perf_counter() - start
    for splits in found.values():
        for fd in splits.values():
            kept = []
            for pair in fd.pairs:
                faults = [bad[str(f)] for f in (pair.blurry, pair.sharp) if str(f) in bad]
                for fault in faults:
                    fd.problems.add(fault.kind, str(fault).removeprefix("cannot read image "))
                if not faults:
                    kept.append(pair)
            fd.pairs[:] = kept
    # the cost goes to the log, not the report (which stays identical between builds)
    rate = f"{len(paths) / seconds:.0f} images/s" if seconds > 0 else "instant"
    print(
        f"decoded {len(paths)} images fully in {seconds:.2f} s ({rate}, {workers} threads); "
        f"{len(bad)} bad",
        file=sys.stderr,
    )
    return {"images": len(paths), "bad": len(bad)}


def _scan_all(
    roots: Mapping[str, Path],
    layouts: Mapping[str, Mapping[str, Any]],
    optional: Iterable[str],
    workers: int | None = None,
) -> tuple[dict[str, dict[str, Found]], dict[str, str], dict[str, Any]]:
    optional = set(optional)
    found, status, errors = {}, {}, []
    for name in (*AIO_BLUR, *AIO_BLUR_OOD):
        root = roots.get(name)
        if root is None or not Path(root).is_dir():
            if name in optional:
                status[name] = "absent (optional)"
                continue
            errors.append(f"data.roots.{name}: dataset root {root} does not exist")
            continue
        found[name] = scan_dataset(name, Path(root), layouts.get(name))
        status[name] = "ok"
    decode = _decode_all(found, workers)
    for name, splits in found.items():
        for split, f in splits.items():
            if not f.pairs:
                problems = dict(f.problems.counts) or "no images"
                errors.append(f"{name} ({split}): no usable pairs under {roots[name]} ({problems})")
    if errors:
        raise DataError("nothing usable for AIO-Blur:\n  " + "\n  ".join(errors))
    return found, status, decode


def build_aioblur(
    roots: Mapping[str, str | os.PathLike],
    out: str | os.PathLike,
    *,
    layouts: Mapping[str, Mapping[str, Any]] | None = None,
    optional: Iterable[str] = (),
    balance: BalanceConfig | None = None,
    strict: bool = False,
    workers: int | None = None,
) -> dict[str, Any]:
    """Scan, check and balance AIO-Blur / AIO-Blur-OOD; write manifests and the report.

    ``roots`` maps dataset names (``demoe.tasks.DATASETS``) to their folders;
    ``layouts`` overrides an adapter's sub-paths per dataset; a dataset in
    ``optional`` may be absent. Raises ``DataError`` when a required dataset
    is absent or a split has no usable pair, and, with ``strict``, when any
    file was skipped. ``workers`` threads decode the images (default: the CPUs). Returns the report also written to ``build_report.json``.
    """
    balance = balance or BalanceConfig()
    out = Path(out)
    found, status, decode = _scan_all(
        {k: Path(v) for k, v in roots.items()}, layouts or {}, optional, workers
    )
    train, balanced, mse_table = _balance_train(found, balance)
    test = [r for n in AIO_BLUR if n in found for r in _records(n, found[n]["test"].pairs, "test")]
    ood = [
        r for n in AIO_BLUR_OOD if n in found for r in _records(n, found[n]["test"].pairs, "test")
    ]
    report = _report(roots, found, status, balanced, balance, (train, test, ood))
    report["decode"] = decode
    if strict and report["problems"]["total"]:
        raise DataError(
            f"strict build: {report['problems']['total']} files skipped: "
            f"{report['problems']['counts']}"
        )
    for key, records in zip(AIO_MANIFEST_FILES, (train, test, ood), strict=True):
        write_manifest(out / AIO_MANIFEST_FILES[key], records)
    with atomic_path(out / MSE_PAIRS_FILE) as tmp:
        mse_table.to_csv(tmp, index=False)
    write_json(out / BUILD_REPORT_FILE, report)
    return report


def _report(roots, found, status, balanced, balance, manifests) -> dict[str, Any]:
    datasets, totals = {}, {}
    for name, state in status.items():
        entry: dict[str, Any] = {
            "display": DATASETS[name].display,
            "task": DATASETS[name].task,
            "ood": DATASETS[name].ood,
            "root": str(roots.get(name)),
            "status": state,
        }
        if name in found:
            entry["splits"] = {
                split: {
                    "found": len(f.pairs),
                    "excluded": f.excluded,
                    "problems": f.problems.to_dict(),
                }
                for split, f in found[name].items()
            }
            for f in found[name].values():
                for kind, n in f.problems.counts.items():
                    totals[kind] = totals.get(kind, 0) + n
        if name in balanced:
            entry["balance"] = balanced[name]
        datasets[name] = entry
    return {
        "paper": "DeMoE (arXiv 2508.06228), Table 4 and Fig. 10",
        "balance": {
            "mode": balance.mode,
            "seed": balance.seed,
            "mse_bins": balance.mse_bins,
            "drop_last": balance.drop_last,
        },
        "datasets": datasets,
        "manifests": {k: len(m) for k, m in zip(AIO_MANIFEST_FILES, manifests, strict=True)},
        "problems": {"total": sum(totals.values()), "counts": totals},
    }


def build_from_config(
    section: Mapping[str, Any],
    out: str | os.PathLike,
    *,
    root: str | os.PathLike | None = None,
    strict: bool = False,
) -> dict[str, Any]:
    """:func:`build_aioblur` from a ``data:`` config section; ``root`` overrides ``data.root``."""
    roots = resolve_roots(root if root is not None else section.get("root"), section.get("roots"))
    return build_aioblur(
        roots,
        out,
        layouts=section.get("layouts"),
        optional=section.get("optional", ()),
        balance=BalanceConfig.from_config(section.get("balance")),
        strict=strict,
    )


def build_pairs(
    root: str | os.PathLike,
    out: str | os.PathLike,
    *,
    task: str | None,
    dataset: str,
    split: str = "test",
    blurry: str = "blur",
    sharp: str = "sharp",
    list_file: str | None = None,
) -> Found:
    """Manifest for users' own data with the generic ``pairs`` adapter; DataError if empty."""
    found = pairs(Path(root), split, blurry=blurry, sharp=sharp, list_file=list_file)
    _decode_all({dataset: {split: found}}, None)
    if not found.pairs:
        raise DataError(f"no usable pairs under {root} ({dict(found.problems.counts)})")
    records = [Record(str(p.blurry), str(p.sharp), task, dataset, split) for p in found.pairs]
    write_manifest(out, records)
    return found
