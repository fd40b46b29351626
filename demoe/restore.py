"""``demoe restore``: deblur one's own images with any checkpoint ``load_model`` reads.

Images or folders in (folders recursively, their relative paths kept, hidden entries
below the given folder skipped), restored images out under ``--out`` with the same names
and the same bit depth as read (8- or 16-bit; grey inputs are restored as RGB). An alpha
channel (RGBA, grey + alpha) is not deblurred, the models see colour only: the RGB is
restored and the alpha is written back unchanged. An output format that cannot carry
16-bit samples or alpha (JPEG, BMP) is not degraded: that image is written as PNG beside
(``<name>.png``), with a notice. Images are read as they display: the EXIF orientation is
applied (and said on the console), so outputs are stored upright.

The router picks the expert, or ``--task`` picks one by hand (paper Table 2, "manual
selection"); ``--tlc`` adds the test-time local converter (Table 6). With the router, each
image's expert and the router's probabilities are printed and kept in ``routing.csv`` in
``--out``. Same-size images go through in batches, read one batch at a time; images too
large for the memory budget are tiled (``demoe.models.tiling``), with per-tile progress.

Nothing is lost: an input is never written over; one run at a time writes into an output
folder (a lock file, :data:`LOCK_NAME`, held for the run; a second run is refused); every
output is written atomically, so it is complete or absent; outputs that exist already are
skipped, so rerunning an interrupted batch resumes it (``--overwrite`` redoes them). An
input that cannot be read (damaged, multi-page, more pixels than ``--max-pixels``, checked
from the header before decoding) is reported and skipped; the run restores the rest, then
lists the skipped inputs and exits with status 2.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import csv
import fcntl
import io
import math
import os
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple, TextIO

import cv2
import numpy as np
import torch
from PIL import Image
from tqdm import tqdm

from demoe.data.images import is_image, read_header
from demoe.errors import DataError
from demoe.io.atomic import atomic_path, write_text
from demoe.models.checkpoint import load_model
from demoe.models.demoe import DeMoE
from demoe.models.tiling import Tiling, available_memory, infer
from demoe.models.tlc import apply_tlc
from demoe.tasks import TASKS

#: Largest value of each supported bit depth.
DEPTH_MAX: dict[int, int] = {8: 255, 16: 65535}
#: Lock file in ``--out``, held (``flock``) by the run writing there.
LOCK_NAME = ".demoe-restore.lock"
#: Per-image expert and router probabilities, in ``--out``.
ROUTING_CSV = "routing.csv"
#: Default ``--max-pixels`` (100 MP): larger images are refused from their header.
DEFAULT_MAX_PIXELS = 100_000_000
#: Output suffixes that carry 16-bit samples and an alpha channel.
DEEP_SUFFIXES: frozenset[str] = frozenset({".png", ".tif", ".tiff"})
#: Bytes per pixel of one image's arrays outside the forward: the decoded file (≤ 8),
#: the float input (12), the output (12) and the tiled accumulators (16), and the
#: write's float, rounded and encoded copies (12 + 6 + 6) — counted in the memory budget.
ARRAY_BYTES_PER_PIXEL = 72


@dataclass(frozen=True)
class Job:
    """One image to restore: where it is read from and where its result goes."""

    source: Path
    target: Path


class Plan(NamedTuple):
    """The jobs to run, and those whose output exists already (skipped)."""

    todo: list[Job]
    complete: list[Job]


class Picture(NamedTuple):
    """An input as the model sees it, and what goes back into the output."""

    chw: np.ndarray  # 3 x H x W float32 in [0, 1], upright
    depth: int  # 8 or 16
    alpha: np.ndarray | None  # H x W at ``depth``, upright; None without one
    orientation: int  # the EXIF orientation applied (1: none)


def shown(path: str | os.PathLike) -> str:
    """``path`` printable on any console: bytes that are not UTF-8 as ``\\xNN``."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def find_jobs(inputs: Sequence[str | Path], out: str | Path) -> list[Job]:
    """Every image under ``inputs`` with its output path under ``out``, in time linear in
    the number of files. Hidden files and folders below a given folder are skipped (the
    folder's own path may be hidden); so is ``out`` when it lies inside an input folder.
    DataError for an input that is neither, no image at all, two inputs with one
    output, or an output that would replace an input."""
    out = Path(out)
    out_abs = out.resolve()
    jobs: list[Job] = []
    sources: set[Path] = set()
    for item in map(Path, inputs):
        if item.is_dir():
            root = item.resolve()
            inside = out_abs.relative_to(root).parts if out_abs.is_relative_to(root) else None
            for path in sorted(item.rglob("*")):
                rel = path.relative_to(item)
                if any(part.startswith(".") for part in rel.parts) or not is_image(path):
                    continue
                if (inside and rel.parts[: len(inside)] == inside) or not path.is_file():
                    continue
                jobs.append(Job(path, out / rel))
                sources.add(root / rel)
        elif item.is_file() and is_image(item):
            jobs.append(Job(item, out / item.name))
            sources.add(item.resolve())
        else:
            raise DataError(f"not an image or a folder: {shown(item)}")
    if not jobs:
        raise DataError(f"no images found in {', '.join(map(shown, inputs))}")
    counts = collections.Counter(out_abs / j.target.relative_to(out) for j in jobs)
    duplicates = sorted(shown(t) for t, n in counts.items() if n > 1)
    if duplicates:
        raise DataError(f"two inputs would write the same output: {duplicates[:5]}")
    clobbered = sorted(shown(t) for t in counts.keys() & sources)
    if clobbered:
        raise DataError(
            f"{len(clobbered)} output(s) would replace their input, e.g. {clobbered[0]}; "
            "choose another --out"
        )
    return jobs


def plan_jobs(jobs: Sequence[Job], overwrite: bool = False) -> Plan:
    """Split ``jobs`` into those to run and those whose output exists (as written, or as
    its PNG beside): outputs are written atomically, so an existing one is complete."""
    if overwrite:
        return Plan(list(jobs), [])
    todo, complete = [], []
    for job in jobs:
        beside = job.target.suffix.lower() not in DEEP_SUFFIXES and _png_beside(job.target).exists()
        done = beside or job.target.exists()
        (complete if done else todo).append(job)
    return Plan(todo, complete)


@contextlib.contextmanager
def output_lock(out: str | Path) -> Iterator[Path]:
    """Create ``out`` and hold its :data:`LOCK_NAME` (``flock``, released when the process
    ends, however it ends) while the block runs; DataError when another run holds it or
    ``out`` is not a folder. Yields the lock file, removed on exit."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise DataError(f"--out {shown(out)} is a file, not a folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
        lock = out / LOCK_NAME
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o666)
    except OSError as exc:
        raise DataError(f"cannot create --out {shown(out)}: {exc.strerror or exc}") from exc
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            held = os.path.samestat(os.fstat(fd), os.stat(lock))  # not a removed one
        except (BlockingIOError, FileNotFoundError):
            held = False
        if not held:
            raise DataError(
                f"another demoe restore is writing into {shown(out)} (it holds "
                f"{shown(lock)}); wait for it to finish or choose another --out"
            )
        try:
            yield lock
        finally:
            lock.unlink(missing_ok=True)
    finally:
        os.close(fd)


def read_any_depth(path: str | Path) -> tuple[np.ndarray, int]:
    """An image as ``3 x H x W`` float32 in [0, 1] and its bit depth (8 or 16)."""
    picture = read_picture(path)
    return picture.chw, picture.depth


def read_with_alpha(path: str | Path) -> tuple[np.ndarray, int, np.ndarray | None]:
    """:func:`read_any_depth` and the image's alpha channel (``H x W``, as stored, at the
    same bit depth), None when it has none."""
    picture = read_picture(path)
    return picture.chw, picture.depth, picture.alpha


def read_picture(path: str | Path, max_pixels: int | None = DEFAULT_MAX_PIXELS) -> Picture:
    """Read ``path`` as it displays (:class:`Picture`). The header is checked before any
    pixel is decoded: more than ``max_pixels`` pixels, or more than one page, is a
    DataError naming the file, as is a damaged or truncated file."""
    pillow_limit = Image.MAX_IMAGE_PIXELS
    if max_pixels is not None:  # the check below replaces Pillow's own, so a limit
        Image.MAX_IMAGE_PIXELS = None  # above Pillow's works and every refusal reads alike
    try:
        header = read_header(path)
    finally:
        Image.MAX_IMAGE_PIXELS = pillow_limit
    pixels = header.width * header.height
    if max_pixels is not None and pixels > max_pixels:
        raise DataError(
            f"{shown(path)}: {header.width}x{header.height} px ({pixels:,} pixels) is more "
            f"than --max-pixels {max_pixels:,}; refused before decoding"
        )
    if header.frames > 1:
        raise DataError(
            f"{shown(path)}: {header.frames} pages; restore reads single-page images "
            "(save each page as its own file)"
        )
    raw = _decode(path, header.format)
    depth = {np.dtype(np.uint8): 8, np.dtype(np.uint16): 16}.get(raw.dtype)
    if depth is None:
        raise DataError(f"{shown(path)}: unsupported sample type {raw.dtype} (8- or 16-bit only)")
    raw = _upright(raw if raw.ndim == 3 else raw[..., None], header.orientation)
    channels = raw.shape[2]
    alpha = np.ascontiguousarray(raw[..., -1]) if channels in (2, 4) else None
    rgb = raw[..., 2::-1] if channels >= 3 else np.repeat(raw[..., :1], 3, axis=2)
    chw = rgb.transpose(2, 0, 1).astype(np.float32) / DEPTH_MAX[depth]
    return Picture(np.ascontiguousarray(chw), depth, alpha, header.orientation)


def _decode(path: str | Path, fmt: str) -> np.ndarray:
    """The stored pixels in OpenCV's layout (grey, BGR or BGRA). JPEG goes through Pillow,
    whose decoder raises on a truncated file; the rest through ``cv2.imdecode`` of the
    file's bytes (any file name, 16-bit colour), which returns None on damage."""
    if fmt == "JPEG":
        try:
            with Image.open(path) as im:
                rgb = np.asarray(im if im.mode in ("L", "RGB") else im.convert("RGB"))
        except OSError as exc:
            raise DataError(f"cannot read image {shown(path)}: {exc}") from exc
        return rgb if rgb.ndim == 2 else np.ascontiguousarray(rgb[..., ::-1])
    raw = cv2.imdecode(np.fromfile(path, dtype=np.uint8), cv2.IMREAD_UNCHANGED)
    if raw is None:
        raise DataError(f"cannot read image {shown(path)}: damaged or truncated {fmt} data")
    return raw


def _upright(hwc: np.ndarray, orientation: int) -> np.ndarray:
    """``hwc`` as displayed under EXIF ``orientation`` (what ``PIL.ImageOps.exif_transpose``
    does to a Pillow image)."""
    if orientation in (5, 6, 7, 8):
        hwc = hwc.swapaxes(0, 1)  # transpose, then the flip that makes each rotation
    flip = {2: (1,), 3: (0, 1), 4: (0,), 6: (1,), 7: (0, 1), 8: (0,)}.get(orientation, ())
    return np.flip(hwc, flip) if flip else hwc


def _png_beside(target: Path) -> Path:
    return target.with_name(target.name + ".png")


def output_path(target: str | Path, depth: int, alpha: bool) -> Path:
    """``target``, or the PNG beside it when its format cannot carry ``depth``-bit
    samples or alpha (JPEG, BMP)."""
    target = Path(target)
    if (depth == 16 or alpha) and target.suffix.lower() not in DEEP_SUFFIXES:
        return _png_beside(target)
    return target


def write_depth(
    path: str | Path, chw: np.ndarray, depth: int, alpha: np.ndarray | None = None
) -> Path:
    """Write a ``3 x H x W`` float image in [0, 1] at ``depth`` bits, atomically, with
    ``alpha`` (``H x W`` at that depth) as its fourth channel when given; returns the file
    written (:func:`output_path`)."""
    path = output_path(path, depth, alpha is not None)
    scale = DEPTH_MAX[depth]
    dtype = np.uint8 if depth == 8 else np.uint16
    hwc = (np.clip(chw, 0.0, 1.0).transpose(1, 2, 0) * scale + 0.5).astype(dtype)[..., ::-1]
    if alpha is not None:
        hwc = np.concatenate([hwc, alpha.astype(dtype)[..., None]], axis=2)
    ok, data = cv2.imencode(path.suffix or ".png", np.ascontiguousarray(hwc))
    if not ok:
        raise DataError(f"cannot encode {shown(path)} ({depth}-bit {path.suffix})")
    with atomic_path(path) as tmp:
        tmp.write_bytes(data.tobytes())
    return path


#: A job and its picture.
Loaded = tuple[Job, Picture]


def _batches(
    jobs: Iterable[Job], read: Callable[[Job], Picture | None], size: Callable[[int, int], int]
) -> Iterator[list[Loaded]]:
    """Consecutive images of equal shape, at most ``size(height, width)`` at a time, read
    as needed: one batch in memory, never all the images of a size. ``read`` returns None
    for an image it skips."""
    batch: list[Loaded] = []
    for job in jobs:
        picture = read(job)
        if picture is None:
            continue
        if batch and batch[0][1].chw.shape != picture.chw.shape:
            yield batch
            batch = []
        batch.append((job, picture))
        if len(batch) >= size(*picture.chw.shape[1:]):
            yield batch
            batch = []
    if batch:
        yield batch


class _TileProgress:
    """Per-tile progress of a tiled image with its ETA: a bar on a terminal, otherwise a
    plain line every tenth of the tiles (logs get no carriage returns)."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.terminal = sys.stderr.isatty()
        self.bar: tqdm | None = None
        self.start = 0.0

    def __call__(self, done: int, total: int) -> None:
        if not self.enabled or total < 2:
            return
        if done == 0:
            self.start = time.monotonic()
            if self.terminal:
                self.bar = tqdm(total=total, desc="tiles", unit="tile", leave=False)
            return
        if self.bar is not None:
            self.bar.update(1)
            if done == total:
                self.bar.close()
        elif done * 10 // total > (done - 1) * 10 // total:
            eta = (time.monotonic() - self.start) / done * (total - done)
            print(f"tiles {done}/{total}, ETA {tqdm.format_interval(eta)}", file=sys.stderr)


@dataclass
class Outcome:
    """What :func:`restore_images` did: one record per restored image (source, target,
    bit depth, alpha, EXIF orientation applied, and with the router the expert and its
    probabilities), and each skipped input with the reason."""

    records: list[dict[str, object]] = field(default_factory=list)
    failures: list[tuple[Path, str]] = field(default_factory=list)


def restore_images(
    model: torch.nn.Module,
    jobs: Sequence[Job],
    task: str = "auto",
    batch_size: int = 4,
    tiling: Tiling | None = None,
    budget_bytes: float | None = None,
    progress: bool = True,
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
) -> Outcome:
    """Restore every job's image with ``model``. An input that cannot be read is reported
    on stderr and skipped; a write that fails (a full disk) stops the run with a DataError
    naming the file, leaving no partial output. ``budget_bytes`` (default
    :func:`~demoe.models.tiling.available_memory`) covers the image arrays
    (:data:`ARRAY_BYTES_PER_PIXEL`) and the forward: what the arrays leave decides
    between whole-image and tiled inference."""
    device = next(model.parameters()).device
    budget = budget_bytes if budget_bytes is not None else available_memory(device)
    outcome = Outcome()
    interactive = progress and sys.stderr.isatty()
    bar = tqdm(total=len(jobs), desc="restore", unit="img", disable=not interactive)

    def say(line: str, stream: TextIO = sys.stderr) -> None:
        tqdm.write(line, file=stream)

    def read(job: Job) -> Picture | None:
        try:
            picture = read_picture(job.source, max_pixels)
            _, h, w = picture.chw.shape
            if ARRAY_BYTES_PER_PIXEL * h * w >= budget:
                raise DataError(
                    f"{shown(job.source)}: {w}x{h} px needs {_gib(ARRAY_BYTES_PER_PIXEL * h * w)}"
                    f" for its arrays alone, more than the {_gib(budget)} memory budget"
                )
        except DataError as exc:
            outcome.failures.append((job.source, str(exc)))
            say(f"demoe restore: skipped {shown(job.source)}: {exc}")
            bar.update(1)
            return None
        if picture.orientation != 1:
            say(f"note: {shown(job.source)}: EXIF orientation {picture.orientation} applied")
        return picture

    def size(height: int, width: int) -> int:
        return max(1, min(batch_size, int(budget / 2 / (ARRAY_BYTES_PER_PIXEL * height * width))))

    on_tile = _TileProgress(progress)
    for batch in _batches(jobs, read, size):
        x = torch.from_numpy(np.stack([p.chw for _, p in batch])).to(device)
        forward_budget = budget - ARRAY_BYTES_PER_PIXEL * x[:, 0].numel()
        with torch.inference_mode():
            restored, logits = infer(model, x, task, tiling, forward_budget, on_tile)
        restored = restored.float().cpu().numpy()
        del x
        for i, (job, picture) in enumerate(batch):
            try:
                written = write_depth(job.target, restored[i], picture.depth, picture.alpha)
            except OSError as exc:
                raise DataError(f"cannot write {shown(job.target)}: {exc.strerror or exc}") from exc
            if written != job.target:
                say(f"note: {shown(job.target)} cannot hold {_kind(picture)}; wrote {written.name}")
            record: dict[str, object] = {
                "source": str(job.source),
                "target": str(written),
                "depth": picture.depth,
                "alpha": picture.alpha is not None,
                "orientation": picture.orientation,
            }
            if logits is not None and task == "auto":
                probabilities = torch.softmax(logits[i].float(), dim=0).tolist()
                record["expert"] = TASKS[int(np.argmax(probabilities))]
                record["probabilities"] = dict(zip(TASKS, probabilities, strict=True))
                if progress:
                    chosen = max(probabilities)
                    say(f"{shown(written)}: expert {record['expert']} (p={chosen:.3f})", sys.stdout)
            outcome.records.append(record)
        bar.update(len(batch))
    bar.close()
    return outcome


def _gib(nbytes: float) -> str:
    return f"{nbytes / 2**30:.2f} GiB"


def _kind(picture: Picture) -> str:
    kinds = {"16-bit samples": picture.depth == 16, "alpha": picture.alpha is not None}
    return " and ".join(k for k, present in kinds.items() if present)


def write_routing(out: str | Path, records: Sequence[dict[str, object]]) -> Path | None:
    """Add each routed record (file under ``out``, expert, ``p_<task>`` per expert) to
    ``out``/:data:`ROUTING_CSV`, keeping the rows of earlier runs for other files; returns
    the CSV, or None when no record was routed."""
    routed = [r for r in records if "expert" in r]
    if not routed:
        return None
    out = Path(out)
    path = out / ROUTING_CSV
    columns = ["file", "expert", *(f"p_{t}" for t in TASKS)]
    rows: dict[str, dict[str, str]] = {}
    if path.exists():
        with path.open(newline="", encoding="utf-8") as fh:
            rows = {row["file"]: row for row in csv.DictReader(fh) if "file" in row}
    for record in routed:
        name = Path(str(record["target"])).relative_to(out).as_posix()
        row = {"file": shown(name), "expert": str(record["expert"])}
        probabilities = dict(record["probabilities"])
        rows[row["file"]] = row | {f"p_{t}": f"{p:.6f}" for t, p in probabilities.items()}
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows[name] for name in sorted(rows))
    write_text(path, text.getvalue())
    return path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("restore", help="deblur images or folders with a checkpoint")
    p.add_argument("inputs", nargs="+", help="image files and/or folders (searched recursively)")
    p.add_argument("--model", required=True, help="any checkpoint demoe.load_model reads")
    p.add_argument(
        "--out",
        required=True,
        help="output folder (same names as the inputs; one run at a time writes into it)",
    )
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
        help="memory budget for the image arrays and the forward; larger images are tiled "
        "(default: 80%% of free GPU memory, half the available RAM on CPU)",
    )
    p.add_argument(
        "--max-pixels",
        type=float,
        default=DEFAULT_MAX_PIXELS,
        help="refuse images with more pixels, from their header, before decoding "
        f"(default {DEFAULT_MAX_PIXELS:.0e})",
    )
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="redo images whose output exists (default: skip them, which resumes a stopped run)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress or per-image lines")
    p.set_defaults(func=_restore)


def _device(name: str) -> str:
    """``--device``: "auto" picks CUDA when present; a CUDA device that is not here is a
    ValueError."""
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    try:
        device = torch.device(name)
    except RuntimeError as exc:
        raise ValueError(f"--device {name}: {exc}") from exc
    if device.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise ValueError(f"--device {name}: no CUDA GPU is available; use --device cpu")
        if device.index is not None and device.index >= count:
            raise ValueError(f"--device {name}: only {count} CUDA GPU(s) here")
    return name


def _tiling(tile: int | None, overlap: int | None) -> Tiling | None:
    """``--tile``/``--overlap``: forced tiling (overlap default: 192 px, at most tile/2)."""
    if not tile:
        return None
    return Tiling(tile, overlap if overlap is not None else min(Tiling.overlap, tile // 2))


def _check_numbers(args: argparse.Namespace) -> None:
    if args.batch_size < 1:
        raise ValueError(f"--batch-size must be at least 1, got {args.batch_size}")
    if args.memory_gb is not None and not (args.memory_gb > 0 and math.isfinite(args.memory_gb)):
        raise ValueError(f"--memory-gb must be a positive number of GiB, got {args.memory_gb}")
    if not (args.max_pixels >= 1 and math.isfinite(args.max_pixels)):
        raise ValueError(f"--max-pixels must be at least 1, got {args.max_pixels}")


def _restore(args: argparse.Namespace) -> int:
    _check_numbers(args)
    max_pixels = int(args.max_pixels)
    device = _device(args.device)
    jobs = find_jobs(args.inputs, args.out)
    with output_lock(args.out):
        plan = plan_jobs(jobs, args.overwrite)
        if plan.complete:
            print(
                f"skipping {len(plan.complete)} image(s) already restored in {shown(args.out)} "
                "(--overwrite redoes them)"
            )
        if not plan.todo:
            return 0
        model = load_model(args.model, device=device)
        if args.task != "auto" and not isinstance(model, DeMoE):
            raise ValueError(
                f"--task {args.task} needs a DeMoE checkpoint, {args.model} is not one"
            )
        if args.tlc:
            apply_tlc(model, args.tlc_train_size)
        tiling = _tiling(args.tile, args.overlap)
        budget = args.memory_gb * 2**30 if args.memory_gb else None
        outcome = restore_images(
            model,
            plan.todo,
            args.task,
            args.batch_size,
            tiling,
            budget,
            progress=not args.quiet,
            max_pixels=max_pixels,
        )
        routing = write_routing(args.out, outcome.records)
    print(f"restored {len(outcome.records)} image(s) into {shown(args.out)}")
    if routing is not None:
        print(f"experts chosen by the router: {shown(routing)}")
    if outcome.failures:
        names = ", ".join(shown(source) for source, _ in outcome.failures[:5])
        more = f" (+{len(outcome.failures) - 5} more)" if len(outcome.failures) > 5 else ""
        raise DataError(
            f"{len(outcome.failures)} input(s) skipped, reasons above: {names}{more}; "
            "rerun to resume after fixing them"
        )
    return 0
