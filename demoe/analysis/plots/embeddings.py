"""t-SNE maps of test images coloured by dataset (paper Fig. 4 and Fig. 13).

Fig. 4: CLIP image embeddings of the AIO-Blur and AIO-Blur-OOD test images.
Fig. 13: encoder bottleneck features of the baselines, one panel per model.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure

from demoe.analysis.embedding import tsne_2d
from demoe.analysis.labels import dataset_label
from demoe.analysis.style import COLUMN_WIDTH_IN, DATASET_COLORS, DATASET_MARKERS, MIN_FONT_PT
from demoe.data.manifest import Record
from demoe.errors import DataError
from demoe.tasks import DATASETS


def sample_records(
    records: Sequence[Record], datasets: Sequence[str], max_per_dataset: int, seed: int = 0
) -> list[Record]:
    """At most ``max_per_dataset`` test records of each dataset, drawn with ``seed``.

    Manifest order is kept within a dataset; DataError when a dataset has no record.
    """
    rng = np.random.default_rng(seed)
    chosen = []
    for name in datasets:
        pool = [r for r in records if r.dataset == name and r.split == "test"]
        if not pool:
            raise DataError(f"no test images of dataset {name!r} in the manifests")
        keep = sorted(rng.choice(len(pool), min(max_per_dataset, len(pool)), replace=False))
        chosen.extend(pool[i] for i in keep)
    return chosen


def tsne_frame(
    features: np.ndarray, datasets: Sequence[str], seed: int = 0, perplexity: float = 30.0
) -> pd.DataFrame:
    """2-D t-SNE of ``features`` (N, D) with each point's dataset: columns x, y, dataset."""
    xy = tsne_2d(features, seed=seed, perplexity=perplexity)
    return pd.DataFrame({"x": xy[:, 0], "y": xy[:, 1], "dataset": list(datasets)})


def tsne_figure(panels: Mapping[str, pd.DataFrame], title: str) -> Figure:
    """One scatter per panel, two panels a row, each dataset with its fixed colour and
    marker (paper display names); sized for the paper's column width."""
    n = len(panels)
    cols = min(n, 2)
    rows = -(-n // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(COLUMN_WIDTH_IN, 2.5 * rows + 0.4), squeeze=False)
    present = list(dict.fromkeys(d for frame in panels.values() for d in frame["dataset"]))
    order = [d for d in DATASETS if d in present]
    labels = [dataset_label(d) for d in order]
    for ax, (name, frame) in zip(axes.flat, panels.items(), strict=False):
        shown = frame.assign(dataset=frame["dataset"].map(dataset_label))
        sns.scatterplot(
            data=shown,
            x="x",
            y="y",
            hue="dataset",
            style="dataset",
            ax=ax,
            s=22,
            linewidth=0,
            hue_order=labels,
            style_order=labels,
            palette={dataset_label(d): DATASET_COLORS[d] for d in order},
            markers={dataset_label(d): DATASET_MARKERS[d] for d in order},
            legend=ax is axes.flat[0],
        )
        ax.set_title(name, fontsize=MIN_FONT_PT + 1)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_xlabel("")
        ax.set_ylabel("")
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    legend = axes.flat[0].get_legend()
    if legend is not None:
        handles, texts = legend.legend_handles, [t.get_text() for t in legend.get_texts()]
        legend.remove()
        fig.legend(
            handles,
            texts,
            loc="upper center",
            bbox_to_anchor=(0.5, 0.0),
            ncol=min(len(labels), 4),
            fontsize=MIN_FONT_PT,
            frameon=False,
            title="dataset",
            title_fontsize=MIN_FONT_PT + 1,
        )
    fig.suptitle(title, y=1.0, va="bottom", fontsize=MIN_FONT_PT + 2)
    fig.tight_layout()
    return fig
