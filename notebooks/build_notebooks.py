"""Generate the exploration notebooks of ``notebooks/`` (the single source of their content).

Usage (from the repository root)::

    python notebooks/build_notebooks.py          # (re)write every notebook
    python notebooks/build_notebooks.py --check  # exit 1 if a stored notebook is stale

The notebooks are written without outputs or execution counts and with fixed cell ids,
so regenerating them is byte-identical; edit this file, never the ``.ipynb`` files.
Each notebook reads the DAG's results folder from ``$DEMOE_RESULTS`` (default
``../results``, relative to the notebook) and is executed in the tests
(``tests/test_notebooks.py``) against the tiny test DAG's outputs.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = Path(__file__).resolve().parent

KERNELSPEC = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}


def setup_cell(required: list[str], extra: str = "") -> str:
    """Second cell of every notebook: locate the results folder, check the artifacts."""
    listed = "".join(f"    {r!r},\n" for r in required)
    return f"""import os
from pathlib import Path

RESULTS = Path(os.environ.get("DEMOE_RESULTS", "../results"))
RESULTS = RESULTS.expanduser().resolve()
REPO = Path.cwd().resolve().parent  # the notebooks live in <repo>/notebooks

#: Artifacts of the Snakemake DAG this notebook reads (relative to RESULTS).
REQUIRED = [
{listed}]
missing = [p for p in REQUIRED if not (RESULTS / p).exists()]
if missing:
    raise FileNotFoundError(
        f"DAG artifacts missing under {{RESULTS}}: {{', '.join(missing)}}. "
        "Run `make reproduce` first, or set DEMOE_RESULTS to a results folder."
    )
print(f"results folder: {{RESULTS}}")
{extra}"""


#: Manifest paths are stored as the builder found them (relative to the directory the
#: DAG ran in, usually the repository root): find the file from here.
RESOLVE_PATH = '''

def local_path(path):
    """A manifest path as a file that exists from the notebook's directory."""
    p = Path(path)
    if p.is_absolute():
        return p
    candidates = [Path.cwd() / p, REPO / p, RESULTS.parent / p]
    if p.parts and p.parts[0] == "results":
        candidates.append(RESULTS.joinpath(*p.parts[1:]))
    return next((c for c in candidates if c.exists()), REPO / p)
'''

IMPORT_ANALYSIS = '''

def analysis_script(name):
    """Import a figure/table script of <repo>/analysis (they are not a package)."""
    import importlib.util

    import matplotlib

    spec = importlib.util.spec_from_file_location(name, REPO / "analysis" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    use, matplotlib.use = matplotlib.use, lambda *args, **kwargs: None
    try:  # the scripts select the Agg backend on import: keep the notebook's
        spec.loader.exec_module(module)
    finally:
        matplotlib.use = use
    return module
'''


#: Interactive choices (issue 15.3): ``choose(show, name=(options, default), ...)`` draws
#: ``show(**defaults)`` at once (so the notebook runs headless, as in CI, and an error
#: fails the cell) and puts one drop-down per choice above the drawing; picking another
#: value redraws in place (Jupyter Lab, ipywidgets).
CHOOSE = '''

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
'''


# --------------------------------------------------------------------------- 01
NB01 = [
    (
        "md",
        """# 01 · AIO-Blur data: counts and LOLBlur MSE subsampling

What this notebook shows, from the DAG's data artifacts (`data/manifests/`):

* **Table 4**: training pairs per dataset, original vs. final after balancing
  (repeated, kept, or MSE-subsampled), test pairs, and the paper's own counts.
* **Fig. 10**: the MSE between blurry and sharp of every LOLBlur training pair, the
  equal-width bins, the dropped highest-MSE bin(s) and how many pairs were drawn per bin.
* A few blurry/sharp examples per dataset, read through the manifests.
* An interactive cell to re-run the subsampling rule
  (`demoe.data.balance.mse_bin_select`) with other `n_bins` / `drop_last`.

Inputs: `build_report.json`, `mse_pairs.csv`, `aioblur_{train,test,ood}.jsonl`.""",
    ),
    (
        "code",
        setup_cell(
            [
                "data/manifests/build_report.json",
                "data/manifests/mse_pairs.csv",
                "data/manifests/aioblur_train.jsonl",
                "data/manifests/aioblur_test.jsonl",
                "data/manifests/aioblur_ood.jsonl",
            ],
            RESOLVE_PATH + IMPORT_ANALYSIS,
        ),
    ),
    (
        "code",
        """import json

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from IPython.display import display

from demoe.data.balance import mse_bin_select
from demoe.data.images import read_hwc
from demoe.data.manifest import counts_by_dataset, read_manifest
from demoe.tasks import AIO_BLUR, AIO_BLUR_OOD, DATASETS

MANIFESTS = RESULTS / "data" / "manifests"
report = json.loads((MANIFESTS / "build_report.json").read_text(encoding="utf-8"))
mse_pairs = pd.read_csv(MANIFESTS / "mse_pairs.csv")
records = {
    split: read_manifest(MANIFESTS / f"aioblur_{split}.jsonl")
    for split in ("train", "test", "ood")
}
print("balance settings:", report["balance"])
print({split: len(recs) for split, recs in records.items()}, "records per manifest")""",
    ),
    ("md", "## Table 4: original vs. final training counts"),
    (
        "code",
        """table4 = analysis_script("table4_aioblur_distribution").table4(report)
display(table4)
# The final counts must be what the training manifest holds.
print("training manifest, pairs per dataset:", counts_by_dataset(records["train"]))""",
    ),
    ("md", "## Fig. 10: LOLBlur MSE histogram, bins and selection"),
    (
        "code",
        """MSE_DATASET = "lolblur"

entry = report["datasets"][MSE_DATASET]
stored = entry.get("balance", {}).get("mse")
pairs = mse_pairs[mse_pairs["dataset"] == MSE_DATASET].reset_index(drop=True)
if stored is None or pairs.empty:
    print(f"{MSE_DATASET} was not MSE-subsampled in this run: no Fig. 10 data")
else:
    print(json.dumps(stored, indent=1))
    sns.set_theme(style="whitegrid")
    fig10 = analysis_script("fig10_lolblur_mse")
    fig = fig10.draw(pairs, stored, entry["display"])
    plt.show()
    per_bin = pairs.groupby("bin")["selected"].agg(pairs="size", selected="sum")
    display(per_bin)""",
    ),
    (
        "md",
        """## Re-run the subsampling rule

Change `N_BINS` / `DROP_LAST` / `SEED` and re-run: the cell draws the same number of
pairs as the DAG did (`TARGET`) with `demoe.data.balance.mse_bin_select` and compares the
selection with the one stored in `mse_pairs.csv` (identical for the DAG's settings).""",
    ),
    (
        "code",
        """N_BINS = report["balance"]["mse_bins"]
DROP_LAST = report["balance"]["drop_last"]
SEED = report["balance"]["seed"]

if not pairs.empty:
    TARGET = int(entry["balance"]["target"])
    sel = mse_bin_select(pairs["mse"].to_numpy(), TARGET, N_BINS, DROP_LAST, SEED)
    display(pd.DataFrame({"pairs": sel.counts}).rename_axis("bin"))
    print("kept bins", sel.kept_bins, "quota", sel.quota, "drawn", sel.drawn)
    print("shortfall", sel.shortfall)
    chosen = np.zeros(len(pairs), dtype=bool)
    chosen[sel.indices] = True
    same = bool((chosen == pairs["selected"].to_numpy()).all())
    print("same selection as the DAG:", same)
    fig, ax = plt.subplots(figsize=(6.4, 3.2))
    ax.hist(pairs["mse"], bins=40, color="0.7", label="all pairs")
    ax.hist(pairs["mse"][chosen], bins=40, color="C0", label="selected")
    for e in sel.edges:
        ax.axvline(e, color="0.2", linestyle="--", linewidth=0.8)
    ax.set_xlabel("MSE(blurry, sharp)")
    ax.set_ylabel("pairs")
    ax.legend()
    plt.show()""",
    ),
    ("md", "## Examples: blurry / sharp pairs from the test manifests"),
    (
        "code",
        """N_EXAMPLES = 1  # pairs per dataset

shown = []
for name in (*AIO_BLUR, *AIO_BLUR_OOD):
    pool = [r for r in records["test"] + records["ood"] if r.dataset == name]
    shown.extend(pool[:N_EXAMPLES])
if not shown:
    print("no test records")
else:
    fig, axes = plt.subplots(2, len(shown), figsize=(2.0 * len(shown), 4.2), squeeze=False)
    for k, rec in enumerate(shown):
        for row, (kind, path) in enumerate((("blurry", rec.blurry), ("sharp", rec.sharp))):
            ax = axes[row][k]
            ax.axis("off")
            if path is None:
                ax.set_title("(unpaired)", fontsize=8)
                continue
            ax.imshow(read_hwc(local_path(path)))
            if row == 0:
                ax.set_title(f"{DATASETS[rec.dataset].display}\\n{kind}", fontsize=8)
            else:
                ax.set_title(kind, fontsize=8)
    fig.tight_layout()
    plt.show()""",
    ),
]


# --------------------------------------------------------------------------- 02
NB02 = [
    (
        "md",
        """# 02 · Weight similarity of deblurring networks

What this notebook shows, from the trained checkpoints (`models/<experiment>/`):

* **Fig. 2 / Fig. 7**: per-layer Pearson correlation (Eq. 3–4) between NAFNets trained on
  different AIO-Blur datasets (`nafnet_<dataset>`), summarised per layer type.
* **Fig. 9**: per-layer CKA (Eq. 5–6) for one chosen pair.
* **Fig. 11**: similarity between the five experts of every MoE block of DeMoE (`demoe`).

What it means in the paper: Sec. 3.1 trains one NAFNet per blur type and finds their
weights strongly correlated layer by layer (Fig. 2 draws a 0.7 line), except for a few
layers, the observation that motivates one shared network with per-task experts (Sec. 3.3).
App. A repeats the study per layer type (Fig. 7), with CKA (Fig. 9) and against a network
trained for another task (Fig. 8); App. D (Fig. 11) shows the experts of DeMoE are *not*
correlated with each other. Read the bars against the controls of the DAG's Fig. 2: with a
shared initialisation (`train.per_dataset_init: shared`) high correlations partly measure
the common starting point.

What to change: pick the **dataset pair**, the **measure** and the **parameters** with the
drop-downs (Jupyter Lab), or set the defaults `PAIR`, `MEASURE`, `PARAMS` in the first code
cell; pick the **layer type** under "All dataset pairs". Scores come from
`demoe.analysis.similarity` through the helpers of `demoe.analysis.plots.weights` that the
DAG's figure scripts use.""",
    ),
    (
        "code",
        setup_cell(
            ["models/demoe/model.safetensors"],
            CHOOSE
            + """
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
""",
        ),
    ),
    (
        "code",
        """import itertools
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
print("pair:", PAIR, "| measure:", MEASURE, "| params:", PARAMS)""",
    ),
    ("md", "## One pair, layer by layer"),
    (
        "code",
        """def show_pair(pair, measure, params):
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
)""",
    ),
    ("md", "## All dataset pairs: summary per layer type (Fig. 7)"),
    (
        "code",
        """pairs = list(itertools.combinations(datasets, 2))
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


choose(show_layer_type, layer_type=(["all", *sorted(scores["layer_type"].unique())], "all"))""",
    ),
    ("md", "## Expert similarity of DeMoE's MoE blocks (Fig. 11)"),
    (
        "code",
        """demoe_state = read_state_dict(RESULTS / "models" / "demoe" / "model.safetensors")
matrices = expert_matrices(demoe_state, "pearson", PARAMS)
for name, matrix in matrices.items():
    print(name)
    display(matrix.round(3))
expert_figure(matrices, "DeMoE: expert similarity per MoE block", MEASURE_LABELS["pearson"])
plt.show()""",
    ),
]


# --------------------------------------------------------------------------- 03
NB03 = [
    (
        "md",
        """# 03 · t-SNE maps of test images

What this notebook shows:

* **Fig. 13**: t-SNE of the encoder bottleneck features (`demoe.analysis.features`) of
  the trained baselines — random init, without class loss (`baseline_aio_noclass`), with
  class loss (`baseline_aio`), original architecture (`baseline_original_arch`) — on a
  small sample of the AIO-Blur test manifest, coloured by dataset.
* **Fig. 4** (optional): t-SNE of CLIP image embeddings of AIO-Blur and AIO-Blur-OOD test
  images, only when `CLIP_WEIGHTS` is set to a local open_clip checkpoint file.

Knobs: `MAX_PER_DATASET`, `PERPLEXITY`, `SEED` (the perplexity is clipped for small
samples by `demoe.analysis.embedding.tsne_2d`).""",
    ),
    (
        "code",
        setup_cell(
            [
                "data/manifests/aioblur_test.jsonl",
                "data/manifests/aioblur_ood.jsonl",
                "models/baseline_aio/model.safetensors",
                "models/baseline_aio_noclass/model.safetensors",
                "models/baseline_original_arch/model.safetensors",
            ],
            RESOLVE_PATH,
        ),
    ),
    (
        "code",
        """import matplotlib.pyplot as plt
import seaborn as sns
import torch
from IPython.display import display

from demoe.analysis.features import encoder_features, random_init_model
from demoe.analysis.plots.embeddings import sample_records, tsne_figure, tsne_frame
from demoe.data.manifest import read_manifest
from demoe.io.checkpoint import load_model
from demoe.tasks import AIO_BLUR, AIO_BLUR_OOD

MAX_PER_DATASET = 4  # test images per dataset (the paper's figure uses 100)
PERPLEXITY = 30.0
SEED = 0
DEVICE = "cpu"
CLIP_MODEL = "ViT-B-32"  # open_clip architecture of CLIP_WEIGHTS
CLIP_WEIGHTS = None  # e.g. "~/weights/open_clip_vit_b32.bin"; None skips Fig. 4

torch.set_num_threads(min(2, torch.get_num_threads()))
sns.set_theme(style="white")
MODELS = RESULTS / "models"
test_records = read_manifest(RESULTS / "data" / "manifests" / "aioblur_test.jsonl")
ood_records = read_manifest(RESULTS / "data" / "manifests" / "aioblur_ood.jsonl")
present = [d for d in AIO_BLUR if any(r.dataset == d for r in test_records)]
chosen = sample_records(test_records, present, MAX_PER_DATASET, SEED)
paths = [local_path(r.blurry) for r in chosen]
labels = [r.dataset for r in chosen]
print(f"{len(chosen)} test images from {present}")""",
    ),
    ("md", "## Fig. 13: encoder features of the baselines"),
    (
        "code",
        """baselines = {
    "random init": random_init_model(MODELS / "baseline_aio" / "model.safetensors", SEED),
    "no class loss": load_model(MODELS / "baseline_aio_noclass" / "model.safetensors"),
    "class loss": load_model(MODELS / "baseline_aio" / "model.safetensors"),
    "original architecture": load_model(MODELS / "baseline_original_arch" / "model.safetensors"),
}
features = {name: encoder_features(m, paths, DEVICE) for name, m in baselines.items()}
for name, f in features.items():
    print(f"{name}: features {f.shape}")
panels = {name: tsne_frame(f, labels, SEED, PERPLEXITY) for name, f in features.items()}
display(panels["class loss"].head())
tsne_figure(panels, f"t-SNE of encoder bottleneck features ({len(chosen)} test images)")
plt.show()""",
    ),
    ("md", "## Fig. 4 (optional): CLIP embeddings of AIO-Blur and AIO-Blur-OOD"),
    (
        "code",
        """if CLIP_WEIGHTS is None:
    print("CLIP_WEIGHTS is not set: skipping the CLIP t-SNE (Fig. 4). Set it to a local")
    print("open_clip checkpoint file (no download is attempted) and re-run this cell.")
else:
    from demoe.analysis.embedding import clip_features, load_clip

    everything = test_records + ood_records
    names = [d for d in (*AIO_BLUR, *AIO_BLUR_OOD) if any(r.dataset == d for r in everything)]
    clip_chosen = sample_records(everything, names, MAX_PER_DATASET, SEED)
    torch.manual_seed(SEED)
    clip, preprocess = load_clip(CLIP_MODEL, Path(CLIP_WEIGHTS).expanduser(), device=DEVICE)
    clip_feats = clip_features(clip, preprocess, [local_path(r.blurry) for r in clip_chosen])
    frame = tsne_frame(clip_feats, [r.dataset for r in clip_chosen], SEED, PERPLEXITY)
    tsne_figure({CLIP_MODEL: frame}, f"t-SNE of CLIP embeddings ({len(clip_chosen)} images)")
    plt.show()""",
    ),
]


# --------------------------------------------------------------------------- 04
NB04 = [
    (
        "md",
        """# 04 · DeMoE's router and experts

What this notebook shows, from DeMoE's per-image evaluations (`eval/demoe/`):

* **Fig. 12 (left)**: mean router probability of every expert per test set
  (`eval/demoe/<dataset>/auto.csv`, expert mode `auto` = router).
* **Fig. 12 (right)**: confusion matrix true task × routed task (top-1 expert) and the
  router's accuracy.
* **Table 8-style comparison**: on the AIO-Blur-OOD sets, the quality with every expert
  forced manually (`eval/demoe/<ood dataset>/<task>.csv`) next to the router's choice.

What it means in the paper: DeMoE's router (Sec. 3.3) predicts the blur type and sends
the image to that task's expert. App. E (Fig. 12) shows it is nearly always right on
AIO-Blur and less so out of distribution, and Sec. 4.2 / App. G show that picking the
expert by hand can beat the router on AIO-Blur-OOD. A diagonal confusion matrix means the
router learned the blur types; off-diagonal mass on the OOD sets is where a manual choice
helps.

What to change: pick the **dataset** of the confusion matrix with the drop-down (or set
`DATASET_SHOWN`), and the metrics of the manual comparison in `METRICS`.""",
    ),
    (
        "code",
        setup_cell(
            ["eval/demoe"],
            CHOOSE
            + """
AUTO_CSVS = sorted((RESULTS / "eval" / "demoe").glob("*/auto.csv"))
if not AUTO_CSVS:
    raise FileNotFoundError(
        f"no eval/demoe/<dataset>/auto.csv under {RESULTS}. Run `make reproduce` first."
    )
print("router evaluations:", [p.parent.name for p in AUTO_CSVS])
""",
        ),
    ),
    (
        "code",
        """import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns
from IPython.display import display

from demoe.analysis.plots.labels import dataset_label
from demoe.analysis.plots.router import (
    confusion_figure,
    mean_router_probs,
    read_router_eval,
    router_confusion,
    router_probs_figure,
)
from demoe.tasks import AIO_BLUR_OOD, DATASETS, TASKS

sns.set_theme(style="white")
per_image = read_router_eval(AUTO_CSVS)
print(f"{len(per_image)} images")
display(per_image.head())""",
    ),
    ("md", "## Mean router probabilities per dataset"),
    (
        "code",
        """means = mean_router_probs(per_image)
display(means.round(3))
router_probs_figure(means, "DeMoE router: mean expert probabilities")
plt.show()""",
    ),
    ("md", "## Confusion matrix and routing accuracy"),
    (
        "code",
        """DATASET_SHOWN = "all"  # "all" or one evaluated dataset, e.g. "gopro"


def show_confusion(dataset):
    subset = per_image if dataset == "all" else per_image[per_image["dataset"] == dataset]
    matrix, accuracy = router_confusion(subset)
    display(matrix)
    per_dataset = (
        subset.dropna(subset=["task"])
        .assign(correct=lambda f: f["task"] == f["routed"])
        .groupby("dataset")["correct"]
        .mean()
        .rename("top-1 accuracy")
    )
    display(per_dataset.to_frame())
    confusion_figure(matrix, accuracy, "DeMoE router" + ("" if dataset == "all" else f", {dataset}"))
    plt.show()


choose(show_confusion, dataset=(["all", *sorted(per_image["dataset"].unique())], DATASET_SHOWN))""",
    ),
    ("md", "## Manual expert choice on the OOD sets"),
    (
        "code",
        """METRICS = {"psnr": "max", "ssim": "max", "lpips": "min", "niqe": "min"}  # better is

rows = []
for name in AIO_BLUR_OOD:
    runs = [r for r in TASKS if (RESULTS / "eval" / "demoe" / name / f"{r}.csv").exists()]
    if not runs:
        continue
    for run in ("auto", *runs):
        path = RESULTS / "eval" / "demoe" / name / f"{run}.csv"
        if path.exists():
            frame = pd.read_csv(path)
            row = {"dataset": name, "expert": run, "images": len(frame)}
            row.update({m: frame[m].mean() for m in METRICS if m in frame.columns})
            rows.append(row)
manual = pd.DataFrame(rows)
if manual.empty:
    print("no manual-expert evaluations (eval/demoe/<ood dataset>/<task>.csv) in this run")
for metric, better in METRICS.items():
    if manual.empty or metric not in manual.columns or manual[metric].isna().all():
        continue
    table = manual.pivot(index="dataset", columns="expert", values=metric).dropna(how="all")
    table = table[[c for c in ("auto", *TASKS) if c in table.columns]]
    table.index = [f"{dataset_label(d)} ({DATASETS[d].task})" for d in table.index]
    print(f"mean {metric} per OOD set (rows) and expert (columns); 'auto' = router")
    display(table.round(3))
    experts = table.drop(columns="auto", errors="ignore").dropna(how="all")
    best = experts.idxmax(axis=1) if better == "max" else experts.idxmin(axis=1)
    print(f"best manual expert by {metric}:", best.to_dict())
    ax = table.T.plot(kind="bar", figsize=(7, 3.2))
    ax.set_ylabel(metric)
    ax.set_xlabel("expert")
    plt.show()""",
    ),
]


# --------------------------------------------------------------------------- 05
NB05 = [
    (
        "md",
        """# 05 · Results tables

What this notebook shows: every table the DAG wrote to `tables/*.csv` — Tables 1-3,
5-9 (AIO deblurring, OOD, task-specific, ablations, TLC, expert blocks, extended OOD,
Real-LOLBlur), Table 4 (data distribution), the cost table (Fig. 6 (left)) and the
training-strategy table (Fig. 6 (right)).

The results tables are stored in long format (`method, origin, dataset, metric, value,
note`). Where the paper reports a number for the same method, dataset and metric, the
reproduced and reported values are put side by side and highlighted.

What it means in the paper: Table 1 is the main claim (DeMoE above the general baselines on
every AIO-Blur set at little extra cost), Tables 2, 8 and 9 test generalisation to unseen
blur (Sec. 4.2, App. G), Table 3 compares with task-specific networks (Sec. 4.3), Tables 5
and 6 are the ablations of App. F. With the embedded synthetic default the *reproduced*
numbers check the pipeline, not the paper's values; with `config/paper.yaml` and the real
datasets they are comparable with the *reported* rows.

What to change: pick the **table** (the experiment) with the drop-down under
"Reproduced vs. reported", or set `TABLE_SHOWN`.""",
    ),
    (
        "code",
        setup_cell(
            ["tables"],
            CHOOSE
            + """
TABLES = sorted((RESULTS / "tables").glob("*.csv"))
if not TABLES:
    raise FileNotFoundError(f"no tables/*.csv under {RESULTS}. Run `make reproduce` first.")
print([p.stem for p in TABLES])
""",
        ),
    ),
    (
        "code",
        """import pandas as pd
from IPython.display import Markdown, display

from demoe.analysis.tables import DIFFERENCE, REPRODUCED

pd.set_option("display.max_rows", 60)
tables = {p.stem: pd.read_csv(p) for p in TABLES}
LONG = {"method", "origin", "dataset", "metric", "value"}
long_tables = {k: t for k, t in tables.items() if set(t.columns) >= LONG}
other_tables = {k: t for k, t in tables.items() if k not in long_tables}
print("results tables (long format):", list(long_tables))
print("other tables:", list(other_tables))""",
    ),
    ("md", "## Tables as the paper prints them (the DAG's Markdown rendering)"),
    (
        "code",
        """for name in tables:
    md = RESULTS / "tables" / f"{name}.md"
    if md.exists():
        display(Markdown(f"### {name}\\n\\n" + md.read_text(encoding="utf-8")))""",
    ),
    ("md", "## Reproduced vs. reported"),
    (
        "code",
        """def side_by_side(long):
    \"\"\"One row per (method, dataset, metric), one column per origin.\"\"\"
    keys = ["method", "dataset", "metric"]
    wide = long.pivot_table(index=keys, columns="origin", values="value", aggfunc="first")
    reported = [c for c in wide.columns if str(c).startswith("reported")]
    wide["both"] = wide[REPRODUCED].notna() if REPRODUCED in wide.columns else False
    wide["both"] &= wide[reported].notna().any(axis=1) if reported else False
    return wide


def highlight(row):
    color = "background-color: #fff3b0" if row["both"] else ""
    return [color] * len(row)


def show_table(table):
    names = list(long_tables) if table == "all" else [table]
    for name in names:
        long = long_tables[name]
        wide = side_by_side(long)
        n_both = int(wide["both"].sum())
        display(Markdown(f"### {name}: {n_both} of {len(wide)} values both reproduced and reported"))
        shown = wide[wide["both"]] if n_both else wide
        display(shown.style.apply(highlight, axis=1).format(precision=4, na_rep="–"))
        if DIFFERENCE in set(long["origin"]):
            diffs = long[long["origin"] == DIFFERENCE].pivot_table(
                index="method", columns=["dataset", "metric"], values="value"
            )
            print(f"{name}: {DIFFERENCE}")
            display(diffs.round(4))


TABLE_SHOWN = "all"  # "all" or one of long_tables, e.g. "table1_aio_deblurring"
choose(show_table, table=(["all", *long_tables], TABLE_SHOWN))""",
    ),
    ("md", "## Notes (unavailable metrics and their reasons)"),
    (
        "code",
        """for name, long in long_tables.items():
    notes = long.loc[long["note"].fillna("").astype(str) != "", ["method", "dataset", "note"]]
    if not notes.empty:
        print(name)
        display(notes.drop_duplicates().head(20))""",
    ),
    ("md", "## Other tables (data distribution, cost)"),
    (
        "code",
        """for name, table in other_tables.items():
    display(Markdown(f"### {name}"))
    display(table)""",
    ),
]


NOTEBOOKS: dict[str, list[tuple[str, str]]] = {
    "01_data_mse_subsampling.ipynb": NB01,
    "02_weight_similarity.ipynb": NB02,
    "03_tsne_maps.ipynb": NB03,
    "04_router_experts.ipynb": NB04,
    "05_results_tables.ipynb": NB05,
}


def build(name: str, cells: list[tuple[str, str]]) -> nbformat.NotebookNode:
    """A notebook without outputs, with deterministic cell ids."""
    stem = name.split("_")[0]
    nb = new_notebook()
    for i, (kind, source) in enumerate(cells):
        make = new_markdown_cell if kind == "md" else new_code_cell
        nb.cells.append(make(source=source.strip("\n"), id=f"nb{stem}-cell{i:02d}"))
    nb.metadata = {
        "kernelspec": dict(KERNELSPEC),
        "language_info": {"name": "python"},
    }
    nbformat.validate(nb)
    return nb


def render_all() -> dict[str, str]:
    """File name → exact text of every notebook."""
    return {name: nbformat.writes(build(name, cells)) + "\n" for name, cells in NOTEBOOKS.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only check, write nothing")
    args = parser.parse_args(argv)
    stale = []
    for name, text in render_all().items():
        path = HERE / name
        current = path.read_text(encoding="utf-8") if path.exists() else None
        if current == text:
            continue
        stale.append(name)
        if not args.check:
            path.write_text(text, encoding="utf-8")
    if args.check and stale:
        print(f"stale notebooks (run {Path(__file__).name}): {', '.join(stale)}")
        return 1
    print("written: " + (", ".join(stale) if stale else "nothing (all up to date)"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
