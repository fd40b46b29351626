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
# # 04 · DeMoE's router and experts
#
# What this notebook shows, from DeMoE's per-image evaluations (`eval/demoe/`):
#
# * **Fig. 12**: mean router probability of every expert per test set, AIO-Blur and
#   AIO-Blur-OOD (the paper's two panels) in one map (`eval/demoe/<dataset>/auto.csv`,
#   expert mode `auto` = router).
# * **Router confusion** (ours, beside Fig. 12): confusion matrix true task × routed task
#   (top-1 expert) and the router's accuracy.
# * **Table 2-style comparison** (manual expert selection): on the AIO-Blur-OOD sets, the
#   quality with every expert forced manually (`eval/demoe/<ood dataset>/<task>.csv`) next
#   to the router's choice.
#
# What it means in the paper: DeMoE's router (Sec. 3.2) predicts the blur type and sends
# the image to that task's expert. App. E (Fig. 12) shows it is nearly always right on
# AIO-Blur and less so out of distribution, and Sec. 4.2 / App. G show that picking the
# expert by hand can beat the router on AIO-Blur-OOD. A diagonal confusion matrix means the
# router learned the blur types; off-diagonal mass on the OOD sets is where a manual choice
# helps.
#
# What to change: pick the **dataset** of the confusion matrix with the drop-down (or set
# `DATASET_SHOWN`), and the metrics of the manual comparison in `METRICS`.

# %%
from glob import glob
from pathlib import Path

from demoe import paths
from demoe.analysis.notebook import choose, require_artifacts, results_folder

RESULTS = results_folder()
ROUTER_EVALS = paths.eval_file(RESULTS, "demoe", "*", "auto", ".csv")  # one per test set
require_artifacts(RESULTS, [ROUTER_EVALS])
print(f"results folder: {RESULTS}")
AUTO_CSVS = sorted(Path(p) for p in glob(ROUTER_EVALS))
print("router evaluations:", [p.parent.name for p in AUTO_CSVS])

# %%
import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns
from IPython.display import display

from demoe.analysis.labels import dataset_label
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
display(per_image.head())

# %% [markdown]
# ## Mean router probabilities per dataset

# %%
means = mean_router_probs(per_image)
display(means.round(3))
router_probs_figure(means, "DeMoE router: mean expert probabilities")
plt.show()

# %% [markdown]
# ## Confusion matrix and routing accuracy

# %%
DATASET_SHOWN = "all"  # "all" or one evaluated dataset, e.g. "gopro"


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
    confusion_figure(
        matrix, accuracy, "DeMoE router" + ("" if dataset == "all" else f", {dataset}")
    )
    plt.show()


choose(show_confusion, dataset=(["all", *sorted(per_image["dataset"].unique())], DATASET_SHOWN))

# %% [markdown]
# ## Manual expert choice on the OOD sets

# %%
METRICS = {"psnr": "max", "ssim": "max", "lpips": "min", "niqe": "min"}  # better is

rows = []
for name in AIO_BLUR_OOD:
    runs = ("auto", *TASKS)
    csvs = {run: Path(paths.eval_file(RESULTS, "demoe", name, run, ".csv")) for run in runs}
    if not any(csvs[run].exists() for run in TASKS):
        continue
    for run, path in csvs.items():
        if path.exists():
            frame = pd.read_csv(path)
            row = {"dataset": name, "expert": run, "images": len(frame)}
            row.update({m: frame[m].mean() for m in METRICS if m in frame.columns})
            rows.append(row)
manual = pd.DataFrame(rows)
if manual.empty:
    pattern = paths.eval_file(RESULTS, "demoe", "<ood dataset>", "<task>", ".csv")
    print(f"no manual-expert evaluations ({pattern}) in this run")
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
    plt.show()
