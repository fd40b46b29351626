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
# # 03 · t-SNE maps of test images
#
# What this notebook shows:
#
# * **Fig. 13**: t-SNE of the encoder bottleneck features (`demoe.analysis.features`) of
#   the trained baselines — random init, without class loss (`baseline_aio_noclass`), with
#   class loss (`baseline_aio`), original architecture (`baseline_original_arch`) — on a
#   small sample of the AIO-Blur test manifest, coloured by dataset.
# * **Fig. 4** (optional): t-SNE of CLIP image embeddings of AIO-Blur and AIO-Blur-OOD test
#   images, only when `CLIP_WEIGHTS` is set to a local open_clip checkpoint file.
#
# Knobs: `MAX_PER_DATASET`, `PERPLEXITY`, `SEED` (the perplexity is clipped for small
# samples by `demoe.analysis.embedding.tsne_2d`).

# %%
from demoe import paths
from demoe.analysis.notebook import local_path, require_artifacts, results_folder

RESULTS = results_folder()
TEST = paths.aio_manifest(RESULTS, "test")
OOD = paths.aio_manifest(RESULTS, "ood")
BASELINES = {
    name: paths.model_file(RESULTS, name)
    for name in ("baseline_aio", "baseline_aio_noclass", "baseline_original_arch")
}
require_artifacts(RESULTS, [TEST, OOD, *BASELINES.values()])
print(f"results folder: {RESULTS}")

# %%
from pathlib import Path

import matplotlib.pyplot as plt
import seaborn as sns
import torch
from IPython.display import display

from demoe.analysis.features import encoder_features, random_init_model
from demoe.analysis.plots.embeddings import sample_records, tsne_figure, tsne_frame
from demoe.data.manifest import read_manifest
from demoe.models.checkpoint import load_model
from demoe.tasks import AIO_BLUR, AIO_BLUR_OOD

MAX_PER_DATASET = 4  # test images per dataset (the paper's figure uses 100)
PERPLEXITY = 30.0
SEED = 0
DEVICE = "cpu"
CLIP_MODEL = "ViT-B-32"  # open_clip architecture of CLIP_WEIGHTS
CLIP_WEIGHTS = None  # e.g. "~/weights/open_clip_vit_b32.bin"; None skips Fig. 4

torch.set_num_threads(min(2, torch.get_num_threads()))
sns.set_theme(style="white")
test_records = read_manifest(TEST)
ood_records = read_manifest(OOD)
present = [d for d in AIO_BLUR if any(r.dataset == d for r in test_records)]
chosen = sample_records(test_records, present, MAX_PER_DATASET, SEED)
image_paths = [local_path(r.blurry, RESULTS) for r in chosen]
labels = [r.dataset for r in chosen]
print(f"{len(chosen)} test images from {present}")

# %% [markdown]
# ## Fig. 13: encoder features of the baselines

# %%
baselines = {
    "random init": random_init_model(BASELINES["baseline_aio"], SEED),
    "no class loss": load_model(BASELINES["baseline_aio_noclass"]),
    "class loss": load_model(BASELINES["baseline_aio"]),
    "original architecture": load_model(BASELINES["baseline_original_arch"]),
}
features = {name: encoder_features(m, image_paths, DEVICE) for name, m in baselines.items()}
for name, f in features.items():
    print(f"{name}: features {f.shape}")
panels = {name: tsne_frame(f, labels, SEED, PERPLEXITY) for name, f in features.items()}
display(panels["class loss"].head())
tsne_figure(panels, f"t-SNE of encoder bottleneck features ({len(chosen)} test images)")
plt.show()

# %% [markdown]
# ## Fig. 4 (optional): CLIP embeddings of AIO-Blur and AIO-Blur-OOD

# %%
if CLIP_WEIGHTS is None:
    print("CLIP_WEIGHTS is not set: skipping the CLIP t-SNE (Fig. 4). Set it to a local")
    print("open_clip checkpoint file (no download is attempted) and re-run this cell.")
else:
    from demoe.analysis.embedding import clip_features, load_clip

    everything = test_records + ood_records
    names = [d for d in (*AIO_BLUR, *AIO_BLUR_OOD) if any(r.dataset == d for r in everything)]
    clip_chosen = sample_records(everything, names, MAX_PER_DATASET, SEED)
    torch.manual_seed(SEED)
    clip, preprocess = load_clip(CLIP_MODEL, Path(CLIP_WEIGHTS).expanduser(), device=DEVICE)
    clip_feats = clip_features(
        clip, preprocess, [local_path(r.blurry, RESULTS) for r in clip_chosen]
    )
    frame = tsne_frame(clip_feats, [r.dataset for r in clip_chosen], SEED, PERPLEXITY)
    tsne_figure({CLIP_MODEL: frame}, f"t-SNE of CLIP embeddings ({len(clip_chosen)} images)")
    plt.show()
