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
# weights strongly correlated layer by layer (Fig. 2 draws a 0.7 line), except for a few
# layers, the observation that motivates one shared network with per-task experts (Sec. 3.3).
# App. A repeats the study per layer type (Fig. 7), with CKA (Fig. 9) and against a network
# trained for another task (Fig. 8); App. D (Fig. 11) shows the experts of DeMoE are *not*
# correlated with each other. Read the bars against the controls of the DAG's Fig. 2: with a
# shared initialisation (`train.per_dataset_init: shared`) high correlations partly measure
# the common starting point.
#
# What to change: pick the **dataset pair**, the **measure** and the **parameters** with the
# drop-downs (Jupyter Lab), or set the defaults `PAIR`, `MEASURE`, `PARAMS` in the first code
# cell; pick the **layer type** under "All dataset pairs". Scores come from
# `demoe.analysis.similarity` through the helpers of `demoe.analysis.plots.weights` that the
# DAG's figure scripts use.

# %%
import os
from pathlib import Path

RESULTS = Path(os.environ.get("DEMOE_RESULTS", "../results"))
RESULTS = RESULTS.expanduser().resolve()
REPO = Path.cwd().resolve().parent  # the notebooks live in <repo>/notebooks

#: Artifacts of the Snakemake DAG this notebook reads (relative to RESULTS).
REQUIRED = [
    "models/demoe/model.safetensors",
]
missing = [p for p in REQUIRED if not (RESULTS / p).exists()]
if missing:
    raise FileNotFoundError(
        f"DAG artifacts missing under {RESULTS}: {', '.join(missing)}. "
        "Run `make reproduce` first, or set DEMOE_RESULTS to a results folder."
    )
print(f"results folder: {RESULTS}")


def choose(show, **choices):
    """Draw show(**defaults) now and offer each choice (options, default) as a drop-down."""
    import ipywidgets as widgets
    from IPython.display import display

    def label(option):  # a tuple option (a dataset pair) would read as (label, value)
        return " vs ".join(map(str, option)) if isinstance(option, tuple) else str(option)

    controls = {
        name: widgets.Dropdown(
            options=[(label(o), o) for o in options], value=default, description=name
        )
        for name, (options, default) in choices.items()
    }
    out = widgets.Output()

    def draw(_change=None):
        failure = []
        with out:  # the Output widget shows, and swallows, an exception raised inside
            out.clear_output(wait=True)
            try:
                show(**{name: c.value for name, c in controls.items()})
            except Exception as err:
                failure.append(err)
                raise
        if failure and _change is None:
            raise failure[0]

    for control in controls.values():
        control.observe(draw, names="value")
    display(widgets.HBox(list(controls.values())), out)
    draw()


from demoe.tasks import AIO_BLUR

NAFNETS = {
    d: RESULTS / "models" / f"nafnet_{d}" / "model.safetensors"
    for d in AIO_BLUR
    if (RESULTS / "models" / f"nafnet_{d}" / "model.safetensors").exists()
}
if len(NAFNETS) < 2:
    raise FileNotFoundError(
        f"need at least two models/nafnet_<dataset>/model.safetensors under {RESULTS}, "
        f"found {list(NAFNETS)}. Run `make reproduce` first."
    )
print("per-dataset NAFNets:", list(NAFNETS))

# %%
import itertools
import warnings

import matplotlib.pyplot as plt
import seaborn as sns
from IPython.display import display

from demoe.analysis.plots.labels import dataset_label
from demoe.analysis.plots.weights import (
    MEASURE_LABELS,
    expert_figure,
    expert_matrices,
    heatmap_figure,
    layer_bar_figure,
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
heatmap_figure(type_matrix(scores), "Pearson r per dataset pair and layer type", "Pearson r")
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
demoe_state = read_state_dict(RESULTS / "models" / "demoe" / "model.safetensors")
matrices = expert_matrices(demoe_state, "pearson", PARAMS)
for name, matrix in matrices.items():
    print(name)
    display(matrix.round(3))
expert_figure(matrices, "DeMoE: expert similarity per MoE block", MEASURE_LABELS["pearson"])
plt.show()
