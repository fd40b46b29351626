"""``demoe eval``: per-image metrics (and router outputs) of a model on a manifest.

``demoe eval-plan``: many ``demoe eval`` runs of one model in one process (torch and the
model load once instead of once per evaluation). The plan is a JSON list, one entry per
evaluation, each entry the arguments of ``demoe eval`` without
``--model``/``--blurry-input``/``--device`` (those are the call's own), e.g.::

    demoe eval-plan --model results/models/demoe --device cuda --plan \\
      '[["--manifest", "m.jsonl", "--dataset", "gopro", "--out", "a.csv", "--summary", "a.json"],
        ["--manifest", "m.jsonl", "--dataset", "gopro", "--tlc", "all", "--out", "b.csv"]]'

Each entry writes exactly the files the same ``demoe eval`` call writes. A TLC entry
(paper Table 6) gets a freshly loaded model, so TLC never reaches the other entries. Every
entry's images are checked before any work; an unreadable image is a failed row, as in
``demoe eval``. The Snakemake rules (``workflow/rules/eval.smk``) run one call per
experiment, its plan from :mod:`demoe.experiments.eval_jobs`.

``demoe niqe-fit``: a NIQE pristine model from the sharp images of a manifest (the
embedded default's NIQE for Real-LOLBlur, paper Tables 2 and 9).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from torch import nn

from demoe.data.images import read_hwc
from demoe.data.manifest import Record, read_manifest
from demoe.errors import DataError
from demoe.eval.common import MetricUnavailable
from demoe.eval.niqe import fit_niqe_model, load_niqe_model
from demoe.eval.registry import (
    DEFAULT_METRICS,
    get_metric,
    metric_names,
    weight_flag,
    weight_keys,
)
from demoe.eval.runner import (
    check_some_evaluated,
    evaluate,
    failures,
    json_means,
    summarize,
)
from demoe.experiments.paper_rows import TLC_ALL
from demoe.experiments.paper_tables import BLURRY_INPUT
from demoe.io.atomic import write_json, write_text
from demoe.models.card import rewrite_model_card
from demoe.models.checkpoint import load_model
from demoe.models.tlc import apply_tlc
from demoe.tasks import resolve_task


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("eval", help="evaluate a model on a manifest (per-image CSV)")
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--model", help="checkpoint file or folder")
    source.add_argument(
        "--blurry-input",
        action="store_true",
        help="score the degraded input itself (the 'no restoration' reference row)",
    )
    p.add_argument("--manifest", required=True, help="JSONL manifest")
    p.add_argument("--dataset", nargs="*", help="only these datasets of the manifest")
    p.add_argument("--split", default="test")
    p.add_argument(
        "--task", default="auto", help="auto (router) or a task/alias to force an expert"
    )
    p.add_argument(
        "--metrics",
        nargs="+",
        default=list(DEFAULT_METRICS),
        help=f"any of {', '.join(metric_names())} (demoe.eval.registry)",
    )
    p.add_argument(
        "--align-ecc", action="store_true", help="RealBlur protocol (ECC homography, masked scores)"
    )
    for key, metric in weight_keys().items():  # one per weight file; without it: n/a, reason
        p.add_argument(
            weight_flag(key),
            dest=key,
            help=f"{metric.display}: {metric.weights[key]}",
        )
    p.add_argument(
        "--tlc",
        type=_tlc_value,
        help="Table 6: TLC on every block ('all') or on these experts (comma-separated tasks)",
    )
    p.add_argument(
        "--tlc-train-size",
        type=_positive_int,
        default=384,
        help="training crop size for TLC (pixels, > 0)",
    )
    p.add_argument("--save-images", help="folder for the restored images")
    p.add_argument("--device", default="cpu")
    p.add_argument("--out", required=True, help="per-image CSV")
    p.add_argument("--summary", help="JSON with means and the reasons for n/a metrics")
    p.set_defaults(func=_eval)

    b = sub.add_parser(
        "eval-plan",
        help="many `demoe eval` runs of one model in one process (a JSON plan)",
        description="Each plan entry writes the files of the same `demoe eval` call; torch and "
        "the model load once (a TLC entry gets a fresh copy). Every entry's images are checked "
        "before any work.",
    )
    source = b.add_mutually_exclusive_group(required=True)
    source.add_argument("--model", help="checkpoint file or folder")
    source.add_argument(
        "--blurry-input", action="store_true", help="score the degraded inputs (no model)"
    )
    b.add_argument("--device", default="cpu")
    b.add_argument(
        "--plan",
        required=True,
        help="JSON list of `demoe eval` argument lists (without --model, --blurry-input and "
        "--device), or a file holding it",
    )
    b.add_argument(
        "--card",
        action="store_true",
        help="write the model folder's model card again with the plan's scores (mean and "
        "bootstrap interval per evaluation and metric)",
    )
    b.add_argument(
        "--intervals", default="{}", help="analysis.intervals as JSON, for --card's intervals"
    )
    b.set_defaults(func=_eval_plan, eval_parser=p)

    f = sub.add_parser("niqe-fit", help="fit a NIQE pristine model on a manifest's sharp images")
    f.add_argument("--manifest", required=True, help="JSONL manifest")
    f.add_argument("--split", default="train")
    f.add_argument("--max-images", type=int, default=200, help="evenly spaced subset (0 = all)")
    f.add_argument("--out", required=True, help=".npz with mu and cov")
    f.set_defaults(func=_niqe_fit)


def _tlc_value(value: str) -> str:
    """``--tlc`` value normalised: ``all`` or comma-separated canonical task names."""
    if value == TLC_ALL:
        return value
    tasks = [t for t in value.split(",") if t]
    if not tasks:
        raise argparse.ArgumentTypeError("expected 'all' or comma-separated task names")
    try:
        return ",".join(resolve_task(t) for t in tasks)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from err


def _positive_int(value: str) -> int:
    """An integer > 0 (argparse type; a crop size of 0 or less would make TLC a no-op)."""
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value!r}") from None
    if number <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {number}")
    return number


def _check_files(records: list[Record], manifest: str) -> None:
    """DataError listing the images of ``records`` that do not exist (before any work)."""
    paths = [p for r in records for p in (r.blurry, r.sharp) if p is not None]
    missing = [p for p in dict.fromkeys(paths) if not Path(p).is_file()]
    if missing:
        shown = ", ".join(missing[:5]) + (" …" if len(missing) > 5 else "")
        raise DataError(f"{manifest}: {len(missing)} image(s) missing: {shown}")


def _selected_records(args: argparse.Namespace) -> list[Record]:
    """The records one evaluation scores, every image checked to exist (DataError) and
    every metric name known (ConfigError)."""
    if args.blurry_input and (args.tlc is not None or args.task != "auto"):
        raise DataError("--blurry-input has no model: --tlc and --task do not apply")
    for name in args.metrics:
        get_metric(name)
    records = [r for r in read_manifest(args.manifest) if r.split == args.split]
    if args.dataset:
        records = [r for r in records if r.dataset in args.dataset]
    if not records:
        raise DataError(f"no {args.split} records for datasets {args.dataset} in {args.manifest}")
    _check_files(records, args.manifest)
    return records


def _load(args: argparse.Namespace) -> nn.Module:
    """The model of an evaluation, before TLC: the checkpoint, or the identity for
    ``--blurry-input``."""
    return nn.Identity() if args.blurry_input else load_model(args.model, device=args.device)


def _with_tlc(model: nn.Module, args: argparse.Namespace) -> nn.Module:
    """``model`` with the evaluation's TLC (Table 6), changed in place, or as it is."""
    if args.tlc is None:
        return model
    experts = None if args.tlc == TLC_ALL else args.tlc.split(",")
    return apply_tlc(model, args.tlc_train_size, experts=experts)


def _eval(args: argparse.Namespace) -> int:
    records = _selected_records(args)
    _evaluate_and_write(args, records, _with_tlc(_load(args), args))
    return 0


def _eval_plan(args: argparse.Namespace) -> int:
    if args.card and (args.blurry_input or not Path(args.model).is_dir()):
        raise DataError("--card needs --model to be a model folder (it holds the card)")
    runs = [_plan_entry(args, i, entry) for i, entry in enumerate(_read_plan(args.plan))]
    selections = [_selected_records(run) for run in runs]  # every entry's images, first
    base = _load(args)
    for i, (run, records) in enumerate(zip(runs, selections, strict=True)):
        print(f"[{i + 1}/{len(runs)}] {run.out}", flush=True)
        # apply_tlc changes a model in place: a TLC entry gets a fresh load of its own.
        model = base if run.tlc is None else _with_tlc(_load(run), run)
        _evaluate_and_write(run, records, model)
    if args.card:
        _write_card(args, runs, base)
    return 0


def _write_card(args: argparse.Namespace, runs: list[argparse.Namespace], model: nn.Module) -> None:
    """The model card of ``--model`` (a folder) with the scores of ``runs``."""
    # imported here: the interval code (scipy.stats) costs every other eval call 0.6 s
    from demoe.analysis.card_scores import evaluation_scores
    from demoe.analysis.table_render import parse_intervals

    scores = evaluation_scores([run.out for run in runs], parse_intervals(args.intervals))
    parameters = sum(p.numel() for p in model.parameters())
    print(f"model card: {rewrite_model_card(args.model, scores, parameters)}")


def _read_plan(plan: str) -> list[list[str]]:
    """The entries of ``--plan``: JSON text (a list) or the file holding it."""
    try:
        text = plan if plan.lstrip().startswith("[") else Path(plan).read_text(encoding="utf-8")
        entries = json.loads(text)
    except (OSError, json.JSONDecodeError) as err:
        raise DataError(f"--plan: not a JSON list nor a file holding one: {err}") from err
    if not (
        isinstance(entries, list)
        and entries
        and all(isinstance(e, list) and all(isinstance(a, str) for a in e) for e in entries)
    ):
        raise DataError("--plan: expected a non-empty JSON list of argument lists (strings)")
    return entries


def _plan_entry(args: argparse.Namespace, index: int, entry: list[str]) -> argparse.Namespace:
    """One plan entry parsed as ``demoe eval`` arguments, with the call's model and device."""
    source = ["--blurry-input"] if args.blurry_input else ["--model", args.model]
    try:
        run = args.eval_parser.parse_args([*source, "--device", args.device, *entry])
    except SystemExit as err:  # argparse has printed the reason
        raise DataError(f"--plan entry {index}: not valid `demoe eval` arguments: {entry}") from err
    if (run.model, run.blurry_input, run.device) != (args.model, args.blurry_input, args.device):
        raise DataError(
            f"--plan entry {index}: --model, --blurry-input and --device belong to the "
            "eval-plan call, not to an entry"
        )
    return run


def _evaluate_and_write(args: argparse.Namespace, records: list[Record], model: nn.Module) -> None:
    """Score ``records`` with ``model`` as ``args`` say; write the per-image CSV and the
    summary JSON (atomically); DataError, and neither file, when no image could be
    evaluated."""
    per_image, reasons = evaluate(
        model,
        records,
        task=args.task,
        metrics=args.metrics,
        align=args.align_ecc,
        weights={key: getattr(args, key) for key in weight_keys()},
        save_dir=args.save_images,
        device=args.device,
    )
    check_some_evaluated(per_image)  # nothing is written then
    write_text(args.out, per_image.to_csv(index=False))
    failed = failures(per_image)
    summary = {
        "model": BLURRY_INPUT if args.blurry_input else args.model,
        "manifest": args.manifest,
        "task": args.task,
        "aligned": args.align_ecc,
        "tlc": args.tlc,
        "tlc_train_size": args.tlc_train_size if args.tlc else None,
        "images": len(per_image),
        "niqe_model": _niqe_model_description(args),
        "failed": len(failed),  # images not evaluated …
        "failures": failed,  # … each with the reason
        "means": json_means(summarize(per_image, args.metrics)),  # null: n/a
        "unavailable": reasons,
    }
    if args.summary:
        write_json(args.summary, summary)
    print(summary["means"], summary["unavailable"] or "")
    if failed:
        print(f"{len(failed)} of {len(per_image)} images failed (see {args.out})")


def _niqe_model_description(args: argparse.Namespace) -> str | None:
    """Which NIQE pristine model the run used (tables print it), None without NIQE."""
    if "niqe" not in args.metrics:
        return None
    try:
        return load_niqe_model(args.niqe_params).description
    except MetricUnavailable:  # NIQE is n/a, its reason is under "unavailable"
        return None


def _niqe_fit(args: argparse.Namespace) -> int:
    records = [r for r in read_manifest(args.manifest) if r.split == args.split and r.sharp]
    if not records:
        raise DataError(f"no {args.split} records with a sharp image in {args.manifest}")
    step = max(1, len(records) // args.max_images) if args.max_images > 0 else 1
    chosen = records[::step][: args.max_images or None]
    model = fit_niqe_model(
        (read_hwc(r.sharp) for r in chosen),
        description=f"fitted on {len(chosen)} sharp {args.split} images of {Path(args.manifest).name}",
    )
    model.save(args.out)
    print(f"NIQE model fitted on {len(chosen)} sharp {args.split} images -> {args.out}")
    return 0
