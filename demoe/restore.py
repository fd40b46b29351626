"""``demoe restore``: deblur one's own images with any checkpoint ``load_model`` reads.

Images or folders in (folders recursively, their relative paths kept), restored images
out under ``--out`` with the same names and the same bit depth as read (8- or 16-bit;
grey inputs are restored as RGB). An alpha channel (RGBA, grey + alpha) is not deblurred,
the models see colour only: the RGB is restored and the alpha is written back unchanged.
The router picks the expert, or ``--task`` picks one by hand (paper Table 2, "manual
selection"); ``--tlc`` adds the test-time local converter (Table 6). Same-size images go through in batches; images too
large for the memory budget are tiled (``demoe.models.tiling``). Nothing is ever written
over an input or an existing file unless ``--overwrite`` is given; every collision is
reported before any image is processed.
"""

from __future__ import annotations

import argparse
import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
from tqdm import tqdm

from demoe.data.images import is_image
from demoe.errors import DataError
from demoe.io.atomic import atomic_path
from demoe.models.checkpoint import load_model
from demoe.models.demoe import DeMoE
from demoe.models.tiling import Tiling, infer
from demoe.models.tlc import apply_tlc
from demoe.tasks import TASKS

#: Largest value of each supported bit depth.
DEPTH_MAX: dict[int, int] = {8: 255, 16: 65535}


@dataclass(frozen=True)
class Job:
    """One image to restore: where it is read from and where its result goes."""

    source: Path
    target: Path


def plan_jobs(inputs: Sequence[str | Path], out: str | Path, overwrite: bool = False) -> list[Job]:
    """Every image under ``inputs`` with its output path under ``out``; DataError naming
    every output that exists already or is an input (unless ``overwrite``)."""
    out = Path(out)
    jobs: list[Job] = []
    for item in map(Path, inputs):
        if item.is_dir():
            files = sorted(p for p in item.rglob("*") if p.is_file() and is_image(p))
            files = [p for p in files if not any(part.startswith(".") for part in p.parts)]
            jobs += [Job(p, out / p.relative_to(item)) for p in files]
        elif item.is_file() and is_image(item):
            jobs.append(Job(item, out / item.name))
        else:
            raise DataError(f"not an image or a folder: {item}")
    if not jobs:
        raise DataError(f"no images found in {', '.join(map(str, inputs))}")
    targets = [j.target.resolve() for j in jobs]
    duplicates = sorted({str(t) for t in targets if targets.count(t) > 1})
    if duplicates:
        raise DataError(f"two inputs would write the same output: {duplicates[:5]}")
    if not overwrite:
        sources = {j.source.resolve() for j in jobs}
        taken = [str(t) for t in targets if t.exists() or t in sources]
        if taken:
            more = f" (+{len(taken) - 5} more)" if len(taken) > 5 else ""
            raise DataError(
                f"refusing to overwrite {len(taken)} existing file(s): {taken[:5]}{more}; "
                "choose another --out or pass --overwrite"
            )
    return jobs


def read_any_depth(path: str | Path) -> tuple[np.ndarray, int]:
    """An image as ``3 x H x W`` float32 in [0, 1] and its bit depth (8 or 16)."""
    chw, depth, _ = read_with_alpha(path)
    return chw, depth


def read_with_alpha(path: str | Path) -> tuple[np.ndarray, int, np.ndarray | None]:
    """:func:`read_any_depth` and the image's alpha channel (``H x W``, as stored, at the
    same bit depth), None when it has none."""
    raw = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if raw is None:
        raise DataError(f"cannot read image {path}")
    depth = {np.dtype(np.uint8): 8, np.dtype(np.uint16): 16}.get(raw.dtype)
    if depth is None:
        raise DataError(f"{path}: unsupported sample type {raw.dtype} (8- or 16-bit only)")
    if raw.ndim == 2:
        raw = raw[..., None]
    channels = raw.shape[2]
    alpha = raw[..., -1].copy() if channels in (2, 4) else None
    rgb = raw[..., 2::-1] if channels >= 3 else np.repeat(raw[..., :1], 3, axis=2)
    chw = rgb.transpose(2, 0, 1).astype(np.float32) / DEPTH_MAX[depth]
    return np.ascontiguousarray(chw), depth, alpha


def write_depth(
    path: str | Path, chw: np.ndarray, depth: int, alpha: np.ndarray | None = None
) -> None:
    """Write a ``3 x H x W`` float image in [0, 1] at ``depth`` bits, atomically, with
    ``alpha`` (``H x W`` at that depth) as its fourth channel when given."""
    path = Path(path)
    scale = DEPTH_MAX[depth]
    dtype = np.uint8 if depth == 8 else np.uint16
    hwc = (np.clip(chw, 0.0, 1.0).transpose(1, 2, 0) * scale + 0.5).astype(dtype)[..., ::-1]
    if alpha is not None:
        hwc = np.concatenate([hwc, alpha.astype(dtype)[..., None]], axis=2)
    ok, data = cv2.imencode(path.suffix or ".png", np.ascontiguousarray(hwc))
    if not ok:
        raise DataError(f"cannot encode {path} ({depth}-bit {path.suffix})")
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        Path(tmp).write_bytes(data.tobytes())


#: A job, its image (3 x H x W), bit depth and alpha channel (None without one).
Loaded = tuple[Job, np.ndarray, int, np.ndarray | None]


def _batches(jobs: Sequence[Job], size: int) -> Iterable[list[Loaded]]:
    """Consecutive images of equal shape, at most ``size`` at a time, read lazily."""
    loaded = ((job, *read_with_alpha(job.source)) for job in jobs)
    for _shape, group in itertools.groupby(loaded, key=lambda item: item[1].shape):
        group = list(group)
        for start in range(0, len(group), size):
            yield group[start : start + size]


def restore_images(
    model: torch.nn.Module,
    jobs: Sequence[Job],
    task: str = "auto",
    batch_size: int = 4,
    tiling: Tiling | None = None,
    budget_bytes: float | None = None,
    progress: bool = True,
) -> list[dict[str, object]]:
    """Restore every job's image with ``model``; returns one record per image (source,
    target, bit depth, whether an alpha channel was carried over and, for DeMoE with the
    router, the chosen expert)."""
    device = next(model.parameters()).device
    records = []
    with tqdm(total=len(jobs), desc="restore", unit="img", disable=not progress) as bar:
        for batch in _batches(jobs, batch_size):
            x = torch.from_numpy(np.stack([chw for _, chw, _, _ in batch])).to(device)
            with torch.inference_mode():
                restored, logits = infer(model, x, task, tiling, budget_bytes)
            restored = restored.float().cpu().numpy()
            for i, (job, _, depth, alpha) in enumerate(batch):
                write_depth(job.target, restored[i], depth, alpha)
                record = {"source": str(job.source), "target": str(job.target), "depth": depth}
                record["alpha"] = alpha is not None
                if logits is not None:
                    record["expert"] = TASKS[int(logits[i].argmax())]
                records.append(record)
            bar.update(len(batch))
    return records


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("restore", help="deblur images or folders with a checkpoint")
    p.add_argument("inputs", nargs="+", help="image files and/or folders (searched recursively)")
    p.add_argument("--model", required=True, help="any checkpoint demoe.load_model reads")
    p.add_argument("--out", required=True, help="output folder (same names as the inputs)")
    p.add_argument(
        "--task", "-t", default="auto", help=f"auto (router) or an expert: {', '.join(TASKS)}"
    )
    p.add_argument("--tlc", action="store_true", help="test-time local converter (Table 6)")
    p.add_argument("--tlc-train-size", type=int, default=384, help="training crop (App. C)")
    p.add_argument("--batch-size", type=int, default=4, help="same-size images per forward")
    p.add_argument("--device", default="auto", help="cpu, cuda, cuda:N or auto")
    p.add_argument("--tile", type=int, help="force tiled inference with this tile side (px)")
    p.add_argument(
        "--overlap",
        type=int,
        help=f"overlap of --tile tiles in px (default {Tiling.overlap}, at most half the tile)",
    )
    p.add_argument(
        "--memory-gb",
        type=float,
        help="memory budget; larger images are tiled (default: 80%% of free GPU memory, "
        "half the available RAM on CPU)",
    )
    p.add_argument("--overwrite", action="store_true", help="allow replacing existing files")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_restore)


def _device(name: str) -> str:
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return name


def _tiling(tile: int | None, overlap: int | None) -> Tiling | None:
    """``--tile``/``--overlap``: forced tiling (overlap default: 192 px, at most tile/2)."""
    if not tile:
        return None
    return Tiling(tile, overlap if overlap is not None else min(Tiling.overlap, tile // 2))


def _restore(args: argparse.Namespace) -> int:
    if args.batch_size < 1:
        raise ValueError(f"--batch-size must be at least 1, got {args.batch_size}")
    jobs = plan_jobs(args.inputs, args.out, args.overwrite)
    model = load_model(args.model, device=_device(args.device))
    if args.task != "auto" and not isinstance(model, DeMoE):
        raise ValueError(f"--task {args.task} needs a DeMoE checkpoint, {args.model} is not one")
    if args.tlc:
        apply_tlc(model, args.tlc_train_size)
    tiling = _tiling(args.tile, args.overlap)
    budget = args.memory_gb * 2**30 if args.memory_gb else None
    records = restore_images(
        model, jobs, args.task, args.batch_size, tiling, budget, progress=not args.quiet
    )
    print(f"restored {len(records)} image(s) into {args.out}")
    return 0
