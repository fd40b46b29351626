# ---
# jupyter:
#   jupytext:
#     notebook_metadata_filter: -jupytext.text_representation.jupytext_version
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 02 · Weight similarity of deblurring networks
#
# What this notebook shows, from the trained checkpoints (`models/<experiment>/`):
#
# * **Fig. 2 / Fig. 7**: per-layer Pearson correlation (Eq. 3–4) between NAFNets trained on
#   different AIO-Blur datasets (`nafnet_<dataset>`), summarised per layer type.
# * **Fig. 9**: per-layer CKA (Eq. 5–6) for one chosen pair.
# * **Fig. 11**: similarity between the five experts of every MoE block of DeMoE (`demoe`).
#
# What it means in the paper: Sec. 3.1 trains one NAFNet per blur type and finds their
# weights strongly correlated layer by layer (above the 0.7 line of Fig. 2) once the pairs
# with LOLBlur are set aside, the observation that motivates one shared network with
# per-task experts (Sec. 3.3); App. A instead has the layers that do not mix neighbouring
# pixels correlating less (docs/paper_notes.md records the disagreement).
# App. A repeats the study per layer type (Fig. 7), with CKA (Fig. 9) and against a network
# trained for another task (Fig. 8); App. D (Fig. 11) shows the experts of DeMoE are *not*
# correlated with each other. Read the bars against the controls of the DAG's Fig. 2: with a
# shared initialisation (`train.per_dataset_init: shared`) high correlations partly measure
# the common starting point.
#
# What to change: pick the **dataset pair**, the **measure** and the **parameters** with the
# drop-downs (Jupyter Lab), or set the defaults `PAIR`, `MEASURE`, `PARAMS` in the code cell
# after the set-up; pick the **layer type** under "All dataset pairs". Scores come from
# `demoe.analysis.similarity` through the helpers of `demoe.analysis.similarity_study`, and the
# figures from `demoe.analysis.plots.weights`, as in the DAG's figure scripts.

# %%
from pathlib import Path

from demoe import paths
from demoe.analysis.notebook import choose, require_artifacts, results_folder
from demoe.tasks import AIO_BLUR

RESULTS = results_folder()
DEMOE = paths.model_file(RESULTS, "demoe")
require_artifacts(RESULTS, [DEMOE])
print(f"results folder: {RESULTS}")

NAFNETS = {d: paths.model_file(RESULTS, f"nafnet_{d}") for d in AIO_BLUR}
NAFNETS = {d: path for d, path in NAFNETS.items() if Path(path).exists()}
if len(NAFNETS) < 2:
    raise FileNotFoundError(
        f"need at least two {paths.model_file(RESULTS, 'nafnet_<dataset>')}, found "
        f"{list(NAFNETS)}. Run `make reproduce` first."
    )
print("per-dataset NAFNets:", list(NAFNETS))

# %%
import itertools
import warnings

import matplotlib.pyplot as plt
import seaborn as sns
from IPython.display import display

from demoe.analysis.intervals import IntervalSettings
from demoe.analysis.labels import dataset_label
from demoe.analysis.plots.weights import (
    MEASURE_LABELS,
    expert_figure,
    layer_bar_figure,
    type_bar_figure,
)
from demoe.analysis.similarity_study import (
    expert_matrices,
    layer_summary,
    pairwise_layer_scores,
    type_matrix,
)
from demoe.io.checkpoint import read_state_dict

sns.set_theme(style="whitegrid")
datasets = list(NAFNETS)
PAIR = (datasets[0], datasets[1])  # any two of `datasets`
MEASURE = "pearson"  # "pearson", "cka" or "rbf_cka" for the chosen pair
PARAMS = "weight"  # "weight" or "all" (adds biases, beta/gamma)
THRESHOLD = 0.7  # the red line of Fig. 2

models = {d: read_state_dict(path) for d, path in NAFNETS.items()}
labels = {d: dataset_label(d) for d in models}
print("pair:", PAIR, "| measure:", MEASURE, "| params:", PARAMS)


# %% [markdown]
# ## One pair, layer by layer


# %%
def show_pair(pair, measure, params):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # constant filters are left out of the means
        pair_scores = pairwise_layer_scores(models, [pair], labels, measure, params)
    summary = layer_summary(pair_scores)
    display(summary.head(10))
    print(f"{len(summary)} layers, mean {measure} = {summary['mean'].mean():.3f}")
    layer_bar_figure(
        summary,
        MEASURE_LABELS[measure],
        f"{labels[pair[0]]} vs {labels[pair[1]]}",
        THRESHOLD if measure == "pearson" else None,
    )
    plt.show()


choose(
    show_pair,
    pair=(list(itertools.combinations(datasets, 2)), PAIR),
    measure=(["pearson", "cka", "rbf_cka"], MEASURE),
    params=(["weight", "all"], PARAMS),
)

# %% [markdown]
# ## All dataset pairs: summary per layer type (Fig. 7)

# %%
pairs = list(itertools.combinations(datasets, 2))
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    scores = pairwise_layer_scores(models, pairs, labels, "pearson", PARAMS)
by_type = scores.groupby("layer_type")["score"].agg(["mean", "min", "max", "count"])
display(by_type)
display(type_matrix(scores).round(3))
# bars: mean over the layers of the type; whiskers: its bootstrap interval over them
# (the config's default analysis.intervals)
type_bar_figure(
    scores,
    "Pearson r per dataset pair and layer type",
    MEASURE_LABELS["pearson"],
    IntervalSettings(),
)
plt.show()


def show_layer_type(layer_type):
    shown = scores if layer_type == "all" else scores[scores["layer_type"] == layer_type]
    title = "all dataset pairs" + ("" if layer_type == "all" else f", {layer_type} layers")
    layer_bar_figure(layer_summary(shown), MEASURE_LABELS["pearson"], title, THRESHOLD)
    plt.show()


choose(show_layer_type, layer_type=(["all", *sorted(scores["layer_type"].unique())], "all"))

# %% [markdown]
# ## Expert similarity of DeMoE's MoE blocks (Fig. 11)

# %%
demoe_state = read_state_dict(DEMOE)
matrices = expert_matrices(demoe_state, "pearson", PARAMS)
for name, matrix in matrices.items():
    print(name)
    display(matrix.round(3))
expert_figure(matrices, "DeMoE: expert similarity per MoE block", MEASURE_LABELS["pearson"])
plt.show()
