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
# # 01 · AIO-Blur data: counts and LOLBlur MSE subsampling
#
# What this notebook shows, from the DAG's data artifacts (`data/manifests/`):
#
# * **Table 4**: training pairs per dataset, original vs. final after balancing
#   (repeated, kept, or MSE-subsampled), test pairs, and the paper's own counts.
# * **Fig. 10**: the MSE between blurry and sharp of every LOLBlur training pair, the
#   equal-width bins, the dropped highest-MSE bin(s) and how many pairs were drawn per bin.
# * A few blurry/sharp examples per dataset, read through the manifests.
# * An interactive cell to re-run the subsampling rule
#   (`demoe.data.balance.mse_bin_select`) with other `n_bins` / `drop_last`.
#
# Inputs: `build_report.json`, `mse_pairs.csv`, `aioblur_{train,test,ood}.jsonl`.

# %%
from demoe import paths
from demoe.analysis.notebook import analysis_script, local_path, require_artifacts, results_folder

RESULTS = results_folder()
BUILD_REPORT = paths.build_report(RESULTS)
MSE_PAIRS = paths.mse_pairs(RESULTS)
MANIFESTS = {split: paths.aio_manifest(RESULTS, split) for split in paths.AIO_MANIFEST_FILES}
require_artifacts(RESULTS, [BUILD_REPORT, MSE_PAIRS, *MANIFESTS.values()])
print(f"results folder: {RESULTS}")

# %%
import json
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from IPython.display import display

from demoe.data.balance import mse_bin_select
from demoe.data.images import read_hwc
from demoe.data.manifest import counts_by_dataset, read_manifest
from demoe.tasks import AIO_BLUR, AIO_BLUR_OOD, DATASETS

report = json.loads(Path(BUILD_REPORT).read_text(encoding="utf-8"))
mse_pairs = pd.read_csv(MSE_PAIRS)
records = {split: read_manifest(path) for split, path in MANIFESTS.items()}
print("balance settings:", report["balance"])
print({split: len(recs) for split, recs in records.items()}, "records per manifest")

# %% [markdown]
# ## Table 4: original vs. final training counts

# %%
table4 = analysis_script("table4_aioblur_distribution").table4(report)
display(table4)
# The final counts must be what the training manifest holds.
print("training manifest, pairs per dataset:", counts_by_dataset(records["train"]))

# %% [markdown]
# ## Fig. 10: LOLBlur MSE histogram, bins and selection

# %%
MSE_DATASET = "lolblur"

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
    display(per_bin)

# %% [markdown]
# ## Re-run the subsampling rule
#
# Change `N_BINS` / `DROP_LAST` / `SEED` and re-run: the cell draws the same number of
# pairs as the DAG did (`TARGET`) with `demoe.data.balance.mse_bin_select` and compares the
# selection with the one stored in `mse_pairs.csv` (identical for the DAG's settings).

# %%
N_BINS = report["balance"]["mse_bins"]
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
    plt.show()

# %% [markdown]
# ## Examples: blurry / sharp pairs from the test manifests

# %%
N_EXAMPLES = 1  # pairs per dataset

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
            ax.imshow(read_hwc(local_path(path, RESULTS)))
            if row == 0:
                ax.set_title(f"{DATASETS[rec.dataset].display}\n{kind}", fontsize=8)
            else:
                ax.set_title(kind, fontsize=8)
    fig.tight_layout()
    plt.show()
