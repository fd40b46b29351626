"""``demoe eval``: per-image metrics (and router outputs) of a model on a manifest."""

from __future__ import annotations

import argparse
import os

from demoe.data.manifest import read_manifest
from demoe.errors import DataError
from demoe.eval.runner import evaluate, summarize
from demoe.io.atomic import write_json, write_text
from demoe.io.checkpoint import load_model


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("eval", help="evaluate a model on a manifest (per-image CSV)")
    p.add_argument("--model", required=True, help="checkpoint file or folder")
    p.add_argument("--manifest", required=True, help="JSONL manifest")
    p.add_argument("--dataset", nargs="*", help="only these datasets of the manifest")
    p.add_argument("--split", default="test")
    p.add_argument(
        "--task", default="auto", help="auto (router) or a task/alias to force an expert"
    )
    p.add_argument("--metrics", nargs="+", default=["psnr", "ssim", "lpips"])
    p.add_argument("--align-ecc", action="store_true", help="RealBlur protocol: ECC-align first")
    p.add_argument("--lpips-weights", help="LPIPS weights file (else $DEMOE_LPIPS_WEIGHTS)")
    p.add_argument("--niqe-params", help="NIQE pristine model (else $DEMOE_NIQE_PARAMS)")
    p.add_argument("--save-images", help="folder for the restored images")
    p.add_argument("--device", default="cpu")
    p.add_argument("--out", required=True, help="per-image CSV")
    p.add_argument("--summary", help="JSON with means and the reasons for n/a metrics")
    p.set_defaults(func=_eval)


def _eval(args: argparse.Namespace) -> int:
    records = [r for r in read_manifest(args.manifest) if r.split == args.split]
    if args.dataset:
        records = [r for r in records if r.dataset in args.dataset]
    if not records:
        raise DataError(f"no {args.split} records for datasets {args.dataset} in {args.manifest}")
    if args.lpips_weights:
        os.environ["DEMOE_LPIPS_WEIGHTS"] = args.lpips_weights
    model = load_model(args.model, device=args.device)
    per_image, reasons = evaluate(
        model,
        records,
        task=args.task,
        metrics=args.metrics,
        align=args.align_ecc,
        metric_paths={"niqe_params": args.niqe_params},
        save_dir=args.save_images,
        device=args.device,
    )
    write_text(args.out, per_image.to_csv(index=False))
    summary = {
        "model": args.model,
        "manifest": args.manifest,
        "task": args.task,
        "aligned": args.align_ecc,
        "images": len(per_image),
        "means": summarize(per_image, args.metrics),
        "unavailable": reasons,
    }
    if args.summary:
        write_json(args.summary, summary)
    print(summary["means"], summary["unavailable"] or "")
    return 0
