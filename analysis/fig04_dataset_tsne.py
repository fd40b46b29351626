"""Fig. 4: t-SNE of CLIP image embeddings of the AIO-Blur and AIO-Blur-OOD test images.

Paper Sec. 4 (Fig. 4, left): each point is a test image (at most ``--max-per-dataset``
per set, drawn with ``--seed``), coloured by dataset. CLIP weights come only from a local
file (``--clip-pretrained``, config ``analysis.clip.pretrained``); without one the figure
is drawn with a randomly initialised model only when ``--allow-random``
(``analysis.clip.allow_random``) is given, and its title says so.

``--csv`` gets one row per image drawn: ``dataset, image, x, y, silhouette``, the image's
point in the map and its silhouette among the datasets in the CLIP embedding space
(cosine distance, ``demoe.analysis.embedding.CLIP_METRIC``); their mean, in the panel's
title, is how far the paper's "clear separation among datasets" holds.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

import torch

from demoe.analysis.embedding import (
    CLIP_METRIC,
    clip_features,
    load_clip,
    separation_table,
    write_separation_csv,
)
from demoe.analysis.plots.cli import figure_parser, run, save
from demoe.analysis.plots.embeddings import sample_records, tsne_figure, tsne_frame
from demoe.data.manifest import read_manifest
from demoe.errors import ConfigError


def main(argv: Sequence[str] | None = None) -> None:
    parser = figure_parser(__doc__)
    parser.add_argument("--manifests", nargs="+", required=True, help="test/OOD manifests")
    parser.add_argument("--datasets", nargs="+", required=True)
    parser.add_argument("--clip-model", required=True, help="open_clip architecture name")
    parser.add_argument("--clip-pretrained", help="local open_clip checkpoint file")
    parser.add_argument("--allow-random", action="store_true")
    parser.add_argument("--max-per-dataset", type=int, default=100)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--perplexity", type=float, default=30.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--csv", required=True, help="per-image points and silhouettes")
    args = parser.parse_args(argv)

    if args.clip_pretrained is None and not args.allow_random:
        raise ConfigError(
            "no CLIP weights configured: set analysis.clip.pretrained to a local open_clip "
            "checkpoint file, or analysis.clip.allow_random: true to draw Fig. 4 with a "
            "randomly initialised model"
        )
    records = [r for path in args.manifests for r in read_manifest(path)]
    chosen = sample_records(records, args.datasets, args.max_per_dataset, args.seed)
    torch.manual_seed(args.seed)
    model, preprocess = load_clip(
        args.clip_model, args.clip_pretrained, allow_random=args.allow_random, device=args.device
    )
    feats = clip_features(model, preprocess, [r.blurry for r in chosen], args.batch_size)
    frame = tsne_frame(feats, [r.dataset for r in chosen], args.seed, args.perplexity)
    table = separation_table(frame, [r.blurry for r in chosen], feats, CLIP_METRIC)
    if args.clip_pretrained is None:
        source = f"randomly initialised {args.clip_model} (no CLIP weights configured)"
    else:
        source = f"{args.clip_model}, weights {Path(args.clip_pretrained).name}"
    title = f"t-SNE of CLIP embeddings of {len(chosen)} AIO-Blur / AIO-Blur-OOD test images"
    panel = f"{source}\nmean silhouette {table['silhouette'].mean():.2f} ({CLIP_METRIC})"
    save(tsne_figure({panel: frame}, title), args)
    write_separation_csv(table, args.csv)


if __name__ == "__main__":
    sys.exit(run(main))
