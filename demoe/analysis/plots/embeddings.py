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
from demoe.analysis.plots.labels import dataset_label
from demoe.analysis.style import DATASET_COLORS
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
    """One scatter per panel, coloured by dataset (fixed colours, paper display names)."""
    n = len(panels)
    fig, axes = plt.subplots(1, n, figsize=(3.6 * n + 1.6, 3.6), squeeze=False)
    present = list(dict.fromkeys(d for frame in panels.values() for d in frame["dataset"]))
    order = [d for d in DATASETS if d in present]
    for ax, (name, frame) in zip(axes[0], panels.items(), strict=True):
        shown = frame.assign(dataset=frame["dataset"].map(dataset_label))
        sns.scatterplot(
            data=shown,
            x="x",
            y="y",
            hue="dataset",
            ax=ax,
            s=12,
            linewidth=0,
            hue_order=[dataset_label(d) for d in order],
            palette={dataset_label(d): DATASET_COLORS[d] for d in order},
            legend=ax is axes[0][-1],
        )
        ax.set_title(name)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_xlabel("")
        ax.set_ylabel("")
    if axes[0][-1].get_legend() is not None:
        sns.move_legend(
            axes[0][-1], "upper left", bbox_to_anchor=(1.02, 1.0), title="dataset", frameon=False
        )
    fig.suptitle(title, y=1.0, va="bottom")
    return fig
