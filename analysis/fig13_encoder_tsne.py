"""Fig. 13: t-SNE of encoder bottleneck features of the baselines on AIO-Blur test images.

Paper App. F (Fig. 13): four panels, one per set of weights: a randomly initialised
network (the architecture of ``--class-loss``, weights from ``--seed``), the all-in-one
baseline trained without the classification loss (``baseline_aio_noclass``), the one
trained with it (``baseline_aio``), and the original NAFNet architecture trained with it
(``baseline_original_arch``). Points are the AIO-Blur test images, coloured by dataset;
each panel is its own t-SNE.

Our reading of "CLIP and t-SNE in cascade to the encoder features": the feature of an
image is the global average pool of the model's encoder output, ``model.encode(x)[0]``
(the router's input, Sec. 3.2), and t-SNE maps these features to 2-D. CLIP is not in the
chain: it embeds images (that is Fig. 4, ``fig04_dataset_tsne.py``), so CLIP features
would not depend on the model's weights, and the paper's panels do (random weights give
no clusters, trained ones do); NAFNet feature maps are not images CLIP could read.

``--csv`` gets one row per panel and image: ``model, dataset, image, x, y, silhouette``,
``model`` the panel's key in :data:`MODELS` (``random_init``, ``no_class``,
``class_loss``, ``original_arch``), the image's point in that panel and its silhouette
among the datasets in that model's feature space (euclidean distance,
``demoe.analysis.features.ENCODER_METRIC``); each panel's mean silhouette, in its title,
is how far "trained weights produce distinct clusters while random weights do not" holds.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

import pandas as pd

from demoe.analysis.embedding import SEPARATION_COLUMNS, separation_table, write_separation_csv
from demoe.analysis.features import ENCODER_METRIC, encoder_features, random_init_model
from demoe.analysis.plots.cli import figure_parser, run, save
from demoe.analysis.plots.embeddings import sample_records, tsne_figure, tsne_frame
from demoe.data.manifest import read_manifest
from demoe.models.checkpoint import load_model

#: The panels, in order: the CSV's ``model`` key and the panel's title.
MODELS: dict[str, str] = {
    "random_init": "random init",
    "no_class": "no class loss",
    "class_loss": "class loss",
    "original_arch": "original architecture",
}


def main(argv: Sequence[str] | None = None) -> None:
    parser = figure_parser(__doc__)
    parser.add_argument("--manifest", required=True, help="AIO-Blur test manifest")
    parser.add_argument("--datasets", nargs="+", required=True)
    parser.add_argument("--no-class", required=True, help="baseline without class loss")
    parser.add_argument("--class-loss", required=True, help="baseline with class loss")
    parser.add_argument("--original-arch", required=True, help="original-architecture baseline")
    parser.add_argument("--max-per-dataset", type=int, default=100)
    parser.add_argument("--perplexity", type=float, default=30.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--csv", required=True, help="per-image points and silhouettes")
    args = parser.parse_args(argv)

    chosen = sample_records(
        read_manifest(args.manifest), args.datasets, args.max_per_dataset, args.seed
    )
    paths = [r.blurry for r in chosen]
    labels = [r.dataset for r in chosen]
    models = {
        "random_init": random_init_model(args.class_loss, args.seed),
        "no_class": load_model(args.no_class),
        "class_loss": load_model(args.class_loss),
        "original_arch": load_model(args.original_arch),
    }
    tables, panels = [], {}
    for key, model in models.items():
        feats = encoder_features(model, paths, args.device)
        frame = tsne_frame(feats, labels, args.seed, args.perplexity)
        table = separation_table(frame, paths, feats, ENCODER_METRIC)
        tables.append(table.assign(model=key))
        silhouette = f"mean silhouette {table['silhouette'].mean():.2f} ({ENCODER_METRIC})"
        panels[f"{MODELS[key]}\n{silhouette}"] = frame
    title = f"t-SNE of encoder bottleneck features ({len(chosen)} AIO-Blur test images)"
    save(tsne_figure(panels, title), args)
    write_separation_csv(
        pd.concat(tables, ignore_index=True)[["model", *SEPARATION_COLUMNS]], args.csv
    )


if __name__ == "__main__":
    sys.exit(run(main))
