"""Training-loader throughput on paper-size images: image files vs the decoded store.

Writes a small fake AIO-Blur tree at the published image sizes (synthetic pairs from
``demoe.data.synthetic``, PNG at the default compression, as the datasets ship), then
draws 384 x 384 training crops (paper App. C) with :class:`PairedDataset` in one process
(= one loader core):

* ``files``: the loader decoding both images of a pair for every crop (before the decoded store);
* ``store``: crops memory-mapped from the decoded store (:mod:`demoe.data.store`), with
  the store's files in the page cache (``warm``) and evicted first (``cold``).

Reports crops/s per core per dataset and for the Table 4 mix (datasets weighted by their
final AIO-Blur counts), the store's build time per image and its size, and extrapolates
both to the paper's AIO-Blur. Usage::

    python benchmarks/bench_loader.py [--pairs 3] [--crops 40] [--tree DIR]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from PIL import Image

from demoe.data.datasets import PairedDataset
from demoe.data.images import to_uint8
from demoe.data.manifest import Record
from demoe.data.store import DecodedStore, build_store
from demoe.data.synthetic.writer import generate
from demoe.tasks import DATASETS

#: Published image sizes (height, width) and AIO-Blur training counts (Table 4).
PAPER = {
    "gopro": ((720, 1280), 2103, 4206),
    "reloblur": ((1436, 2152), 2010, 4018),
    "dpdd": ((1120, 1680), 350, 3850),
    "lolblur": ((640, 1120), 4200, 4200),  # unique pairs after the MSE subsampling
    "realblur_j": ((770, 680), 3758, 3758),
}
CROP = 384


def write_tree(root: Path, pairs: int) -> list[Record]:
    """``pairs`` synthetic pairs per dataset at the published size (reused if present)."""
    records = []
    for dataset, ((h, w), _, _) in PAPER.items():
        for i in range(pairs):
            blurry, sharp = (root / dataset / f"{i:03d}_{kind}.png" for kind in ("blur", "sharp"))
            if not (blurry.is_file() and sharp.is_file()):
                pair = generate(dataset, "train", i, (h, w), seed=0)
                blurry.parent.mkdir(parents=True, exist_ok=True)
                Image.fromarray(to_uint8(pair.blurry)).save(blurry)
                Image.fromarray(to_uint8(pair.sharp)).save(sharp)
            task = DATASETS[dataset].task
            records.append(Record(str(blurry), str(sharp), task, dataset, "train"))
    return records


def crops_per_s(dataset: PairedDataset, n: int) -> float:
    start = time.perf_counter()
    for i in range(n):
        dataset.set_epoch(i // len(dataset))
        dataset[i % len(dataset)]
    return n / (time.perf_counter() - start)


def evict(folder: Path) -> None:
    """Drop ``folder``'s files from the page cache (clean pages; Linux)."""
    for f in folder.glob("*.npy"):
        fd = os.open(f, os.O_RDONLY)
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)


def mix_rate(rates: dict[str, float]) -> float:
    """Crops/s of the Table 4 mix: time per crop averaged with the final counts as weights."""
    total = sum(final for _, _, final in PAPER.values())
    return 1.0 / sum(PAPER[d][2] / total / rates[d] for d in PAPER)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=3, help="pairs per dataset")
    parser.add_argument("--crops", type=int, default=40, help="crops per dataset and mode")
    parser.add_argument("--tree", help="folder for the fake tree (kept; default: temporary)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(args.tree) if args.tree else Path(tmp) / "tree"
        records = write_tree(root, args.pairs)
        store_dir = Path(tmp) / "store"
        start = time.perf_counter()
        summary = build_store(records, store_dir, workers=1)
        build_s = time.perf_counter() - start
        store = DecodedStore(store_dir)
        rates: dict[str, dict[str, float]] = {"files": {}, "store warm": {}, "store cold": {}}
        for name in PAPER:
            recs = [r for r in records if r.dataset == name]
            rates["files"][name] = crops_per_s(PairedDataset(recs, crop=CROP), args.crops)
            stored = PairedDataset(recs, crop=CROP, store=store)
            crops_per_s(stored, len(recs))  # touch every file once
            rates["store warm"][name] = crops_per_s(stored, args.crops)
            evict(store_dir)
            rates["store cold"][name] = crops_per_s(stored, args.crops)
        png_bytes = sum(os.path.getsize(p) for r in records for p in (r.blurry, r.sharp))
    print(f"{CROP}² training crops per second, one process (= one loader core)")
    print(f"{'dataset':12s}" + "".join(f"{m:>13s}" for m in rates))
    for name in PAPER:
        print(f"{name:12s}" + "".join(f"{rates[m][name]:13.1f}" for m in rates))
    mix = {m: mix_rate(r) for m, r in rates.items()}
    print(f"{'Table 4 mix':12s}" + "".join(f"{mix[m]:13.1f}" for m in rates))
    print(
        f"speed-up of the store (Table 4 mix): warm {mix['store warm'] / mix['files']:.1f}x, "
        f"cold {mix['store cold'] / mix['files']:.1f}x"
    )
    images = summary["images"]
    per_image_s, per_image_b = build_s / images, summary["bytes"] / images
    # Paper scale: every unique training image of AIO-Blur, blurry and sharp.
    paper_bytes = sum(2 * n * h * w * 3 for (h, w), n, _ in PAPER.values())
    scale = paper_bytes / summary["bytes"]
    print(
        f"store build: {per_image_s * 1e3:.0f} ms per image (one process), "
        f"{per_image_b / 2**20:.1f} MiB per image; PNG {png_bytes / summary['bytes']:.2f}x "
        "the decoded size"
    )
    print(
        f"paper-scale AIO-Blur store: {paper_bytes / 2**30:.0f} GiB decoded, "
        f"build ≈ {build_s * scale / 60:.0f} min on one core "
        f"(≈ {build_s * scale / 60 / 16:.1f} min with 16 workers)"
    )


if __name__ == "__main__":
    main()
