"""``demoe models`` (list presets, describe, import, export to ONNX) and ``demoe cost``."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from demoe.eval.cost import count_params, preset_cost
from demoe.io.checkpoint import weight_files
from demoe.io.checksum import sha256_of
from demoe.models.checkpoint import load_model, save_model
from demoe.models.export import DEFAULT_OPSET, export_onnx
from demoe.models.registry import PRESETS, model_to_config


def register(sub: argparse._SubParsersAction) -> None:
    models = sub.add_parser("models", help="list model presets or describe a checkpoint")
    msub = models.add_subparsers(dest="models_command", required=True)
    msub.add_parser("list", help="the named presets").set_defaults(func=_list)
    info = msub.add_parser("info", help="config and size of a checkpoint")
    info.add_argument("checkpoint")
    info.set_defaults(func=_info)
    imp = msub.add_parser(
        "import",
        help="convert any checkpoint load_model reads into a model folder (fixed weights)",
    )
    imp.add_argument("checkpoint", help="a .pth/.pt/.ckpt, .safetensors or model folder")
    imp.add_argument("--out", required=True, help="model folder to write")
    imp.set_defaults(func=_import)
    exp = msub.add_parser(
        "export",
        help="ONNX file of a checkpoint (dynamic batch, height and width), "
        "kept only if onnxruntime matches PyTorch",
    )
    exp.add_argument("model", help="a .pth/.pt/.ckpt, .safetensors or model folder")
    exp.add_argument("--onnx", required=True, help="ONNX file to write")
    exp.add_argument(
        "--expert",
        help="DeMoE only: the task whose expert every image uses (default: the router chooses)",
    )
    exp.add_argument("--opset", type=int, default=DEFAULT_OPSET, help="ONNX opset")
    exp.set_defaults(func=_export)

    cost = sub.add_parser("cost", help="params, MACs and runtime of presets (Table 1 cost)")
    cost.add_argument("models", nargs="+", help="preset names")
    cost.add_argument("--size", type=int, default=256)
    cost.add_argument("--device", default="cpu")
    cost.add_argument("--repeats", type=int, default=10)
    cost.add_argument("--warmup", type=int, default=3)
    cost.set_defaults(func=_cost)


def _list(args: argparse.Namespace) -> int:
    for name, config in PRESETS.items():
        print(f"{name}: {json.dumps(config)}")
    return 0


def _info(args: argparse.Namespace) -> int:
    model = load_model(args.checkpoint)
    print(json.dumps({**model_to_config(model), "params": count_params(model)}, indent=2))
    return 0


def _import(args: argparse.Namespace) -> int:
    """``checkpoints: {experiment: file}`` in the DAG: the file's weights as a model folder,
    its name kept in the metadata (``source``) so tables and figures can label it."""
    source = Path(args.checkpoint)
    model = load_model(source)
    metadata = {
        "source": source.name,
        "source_path": str(source.resolve()),
        # identifies the file (a name does not: published checkpoints get replaced)
        "source_sha256": _source_sha256(source),
    }
    save_model(model, args.out, metadata)
    print(f"imported {source} -> {args.out}")
    return 0


def _source_sha256(source: Path) -> str | None:
    """SHA-256 of the imported file, or of a folder's single weight file (None: shards)."""
    files = [source] if source.is_file() else weight_files(source)
    return sha256_of(files[0]) if len(files) == 1 else None


def _export(args: argparse.Namespace) -> int:
    model = load_model(args.model)
    report = export_onnx(model, args.onnx, expert=args.expert, opset=args.opset)
    print(json.dumps(report.as_dict()))
    return 0


def _cost(args: argparse.Namespace) -> int:
    for name in args.models:
        cost = preset_cost(name, args.size, args.device, args.repeats, args.warmup)
        print(json.dumps(cost.as_dict()))
    return 0
