"""Analysis figures (paper Figs. 2, 4–14): data functions, and every figure script of the
figure registry run with the arguments its rule gives it."""

from __future__ import annotations

import importlib.util
import json
import math
import shlex
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import randomize_affine
from matplotlib.figure import Figure
from matplotlib.text import Text
from PIL import Image

from demoe import paths
from demoe.analysis.features import encoder_features, random_init_model
from demoe.analysis.figures import FigureRun, figure, figure_names
from demoe.analysis.intervals import IntervalSettings
from demoe.analysis.labels import model_label, task_specific_model
from demoe.analysis.plots.cli import run
from demoe.analysis.plots.embeddings import sample_records
from demoe.analysis.plots.qualitative import (
    QualitativeRow,
    center_crop,
    image_psnr,
    qualitative_figure,
    zoom_box,
    zoomed,
)
from demoe.analysis.plots.router import mean_router_probs, read_router_eval, router_confusion
from demoe.analysis.plots.weights import (
    layer_bar_figure,
    layer_means,
    network_stages,
    pair_grid_figure,
    type_bar_figure,
)
from demoe.analysis.similarity import block_position, compare_state_dicts
from demoe.analysis.similarity_study import (
    expert_matrices,
    expert_type_scores,
    initial_state_dict,
    layer_summary,
    network_order,
    pairwise_layer_scores,
    per_layer_scores,
    random_weight_reference,
    similarity_study,
    type_matrix,
    write_scores_csv,
)
from demoe.analysis.style import COLUMN_WIDTH_IN, DPI, MIN_FONT_PT, SAVE_PAD_IN
from demoe.data.manifest import Record, write_manifest
from demoe.errors import CheckpointError, ConfigError, DataError
from demoe.models.checkpoint import save_model
from demoe.models.registry import create_model
from demoe.tasks import AIO_BLUR, AIO_BLUR_OOD, DATASETS, TASKS
from demoe.train.config import write_config
from demoe.train.loop import Trainer
from demoe.train.toy import toy_config, write_toy_aioblur

ANALYSIS = Path(__file__).parents[1] / "analysis"
SMALL = {"width": 8, "middle_blk_num": 1, "enc_blk_nums": [1, 1], "dec_blk_nums": [1, 1]}


# ---------------------------------------------------------------- data → DataFrame


def _sd(seed: int) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {
        "encoders.0.0.conv1.weight": torch.randn(4, 3, 1, 1, generator=g),
        "encoders.0.0.conv2.weight": torch.randn(4, 1, 3, 3, generator=g),
        "encoders.0.0.norm1.weight": torch.randn(4, generator=g),
    }


def test_pairwise_scores_have_known_correlations() -> None:
    a = _sd(0)
    models = {
        "nafnet_dpdd": a,
        "nafnet_gopro": {k: 2 * v + 1 for k, v in a.items()},  # r = +1 everywhere
        "nafnet_lolblur": {k: -v for k, v in a.items()},  # r = -1 everywhere
    }
    pairs = [("nafnet_dpdd", "nafnet_gopro"), ("nafnet_dpdd", "nafnet_lolblur")]
    labels = {n: model_label(n) for n in models}
    scores = pairwise_layer_scores(models, pairs, labels)
    assert list(dict.fromkeys(scores["pair"])) == ["DPDD – GoPro", "DPDD – LOLBlur"]
    np.testing.assert_allclose(scores.loc[scores["model_b"] == "nafnet_gopro", "score"], 1.0)
    np.testing.assert_allclose(scores.loc[scores["model_b"] == "nafnet_lolblur", "score"], -1.0)

    summary = layer_summary(scores)
    assert list(summary["layer"]) == [list(a)[i] for i in (2, 0, 1)]  # norm1, conv1, conv2
    np.testing.assert_allclose(summary["mean"], 0.0, atol=1e-12)
    np.testing.assert_allclose(summary[["min", "max"]], [[-1.0, 1.0]] * 3)
    assert (summary["n_pairs"] == 2).all()

    matrix = type_matrix(scores)
    assert list(matrix.columns) == ["1x1 conv", "3x3 conv", "LayerNorm"]
    np.testing.assert_allclose(matrix.loc["DPDD – GoPro"], 1.0)
    np.testing.assert_allclose(matrix.loc["DPDD – LOLBlur"], -1.0)


def test_network_order_follows_the_forward_pass() -> None:
    keys = sorted(create_model("demoe", **SMALL).state_dict(), key=network_order)
    blocks = list(dict.fromkeys(block_position(k) for k in keys))
    assert blocks[:7] == [
        "intro",
        "encoder 1 block 1",
        "down 1",
        "encoder 2 block 1",
        "down 2",
        "middle block 1",
        "MoE 1 expert 1",
    ]
    assert blocks[11:14] == ["up 1", "decoder 1 block 1", "MoE 2 expert 1"]
    assert blocks[-2:] == ["ending", "router"]
    block = [k.split(".")[4] for k in keys if k.startswith("encoders.0.") and k.endswith("weight")]
    assert block == ["norm1", "conv1", "conv2", "sca", "conv3", "norm2", "conv4", "conv5"]


def test_rbf_cka_uses_the_sigma_factor() -> None:
    a, b = _sd(0), _sd(1)
    same = compare_state_dicts(a, a, "rbf_cka")
    np.testing.assert_allclose(same["score"].dropna(), 1.0)
    narrow = compare_state_dicts(a, b, "rbf_cka", sigma_factor=0.1)["score"]
    wide = compare_state_dicts(a, b, "rbf_cka", sigma_factor=2.0)["score"]
    assert not np.allclose(narrow.iloc[:2], wide.iloc[:2])


def test_different_architectures_name_both_models() -> None:
    models = {"nafnet_dpdd": _sd(0), "other": {"encoders.0.0.conv1.weight": torch.zeros(8, 3)}}
    with pytest.raises(CheckpointError, match="cannot compare nafnet_dpdd with other"):
        pairwise_layer_scores(models, [("nafnet_dpdd", "other")])


def test_expert_matrices_one_per_moe_block() -> None:
    sd = randomize_affine(create_model("demoe", **SMALL)).state_dict()
    for e in range(1, 5):  # expert e of block 0 = expert 0 scaled: correlation 1
        for key in [k for k in sd if k.startswith(f"experts.0.experts.{e}.")]:
            sd[key] = (
                3
                * sd[
                    key.replace(f"experts.{e}.", "experts.0.", 1).replace(
                        "experts.0.experts.0.", "experts.0.experts.0.", 1
                    )
                ]
            )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        matrices = expert_matrices(sd)
    assert list(matrices) == ["MoE 1", "MoE 2", "MoE 3"]
    assert all(m.shape == (5, 5) and list(m.index) == list(TASKS) for m in matrices.values())
    np.testing.assert_allclose(matrices["MoE 1"].to_numpy(), 1.0)
    assert matrices["MoE 2"].to_numpy()[0, 1] < 0.5
    with pytest.raises(CheckpointError, match="no MoE blocks"):
        expert_matrices(create_model("nafnet", **SMALL).state_dict())


def _eval_rows(dataset: str, routed: list[str], top: float = 0.6) -> pd.DataFrame:
    task = DATASETS[dataset].task if dataset != "real_lolblur" else None
    rows = []
    for i, r in enumerate(routed):
        probs = {f"prob_{t}": (top if t == r else (1 - top) / 4) for t in TASKS}
        rows.append(
            {
                "dataset": dataset,
                "task": task,
                "image": f"{i}.png",
                "expert": "auto",
                "psnr": 30.0,
                "routed": r,
                **probs,
            }
        )
    return pd.DataFrame(rows)


def test_expert_type_scores_per_pair_and_type() -> None:
    sd = randomize_affine(create_model("demoe", **SMALL)).state_dict()
    for key in [k for k in sd if ".experts.4." in k]:  # expert 4 = expert 0 scaled
        sd[key] = 3 * sd[key.replace(".experts.4.", ".experts.0.")]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scores = expert_type_scores(sd)
    matrix = type_matrix(scores)
    assert matrix.shape == (10, 4)  # 10 expert pairs x the four layer types of App. A
    assert list(matrix.columns) == ["1x1 conv", "3x3 conv", "LayerNorm", "SCA"]
    np.testing.assert_allclose(matrix.loc["defocus – low light"], 1.0)
    assert (matrix.drop(index="defocus – low light").abs() < 0.6).all().all()
    assert set(scores["moe"]) == {"MoE 1", "MoE 2", "MoE 3"}
    # a layer's id names its MoE block: unique within a pair, the same in every pair
    ids = scores.groupby("pair", sort=False)["layer"].apply(tuple)
    assert ids.map(lambda layers: len(set(layers)) == len(layers)).all()
    assert ids.nunique() == 1 and "MoE 2/conv2.weight" in ids.iloc[0]


def test_random_weight_reference_follows_filter_size() -> None:
    a, b = _sd(0), _sd(1)
    scores = pairwise_layer_scores({"a": a, "b": b}, [("a", "b")], measure="rbf_cka")
    summary = layer_summary(scores)
    ref = random_weight_reference(summary, "rbf_cka")
    sizes = dict(zip(summary["layer"], summary["filter_size"], strict=True))
    assert sizes == {
        "encoders.0.0.conv1.weight": 3,
        "encoders.0.0.conv2.weight": 9,
        "encoders.0.0.norm1.weight": 4,
    }
    assert ref["encoders.0.0.conv1.weight"] > ref["encoders.0.0.norm1.weight"]
    assert ref["encoders.0.0.norm1.weight"] > ref["encoders.0.0.conv2.weight"] > 0.2


def test_initial_state_dict_is_the_trainers_initialisation(tmp_path) -> None:
    manifests = write_toy_aioblur(tmp_path / "toy", train_per_dataset=1)
    config = toy_config(manifests, tmp_path / "run", preset="nafnet", run={"seed": 5})
    folder = tmp_path / "models" / "nafnet_dpdd"
    write_config(config, folder / "resolved_config.yaml")
    expected = Trainer(config).model.state_dict()
    rebuilt = initial_state_dict(folder / "model.safetensors")
    assert rebuilt.keys() == expected.keys()
    assert all(torch.equal(rebuilt[k], expected[k].cpu()) for k in expected)
    state = torch.get_rng_state()
    initial_state_dict(folder / "model.safetensors")
    assert torch.equal(state, torch.get_rng_state())  # global RNG untouched
    with pytest.raises(CheckpointError, match="no training config"):
        initial_state_dict(tmp_path / "models" / "nafnet_gopro" / "model.safetensors")


def test_similarity_study_controls(artifacts) -> None:
    m = artifacts["models"]
    paths = [m / f"nafnet_{d}" / "model.safetensors" for d in AIO_BLUR[:3]]
    controls = [m / f"nafnet_{d}_reseed" / "model.safetensors" for d in AIO_BLUR[:2]]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        study = similarity_study(paths, controls, with_init=True)
    assert set(study) == {"pairs", "seed", "init"}
    assert study["pairs"]["pair"].nunique() == 3
    assert list(dict.fromkeys(study["seed"]["pair"])) == [
        "DPDD – DPDD (other seed)",
        "RealBlur-J – RealBlur-J (other seed)",
    ]
    # The fixture's models are their initialisation + small noise: r(model, init) ~ 1.
    init = study["init"]
    assert init.loc[init.layer_type != "LayerNorm", "score"].mean() > 0.95
    with pytest.raises(CheckpointError, match="seed controls without their model"):
        similarity_study(paths[:1], controls[1:])


def test_per_layer_scores_round_trip_to_the_per_type_means(artifacts, tmp_path) -> None:
    """The mean of the CSV's layer scores of a kind, pair and layer type is the per-type
    mean the CSV held before it was per layer (its score and count of defined layers)."""
    m = artifacts["models"]
    paths = [m / f"nafnet_{d}" / "model.safetensors" for d in AIO_BLUR[:3]]
    controls = [m / f"nafnet_{AIO_BLUR[0]}_reseed" / "model.safetensors"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        study = similarity_study(paths, controls, with_init=True)
    keys = ["kind", "pair", "layer_type"]
    before = pd.concat(
        [
            table.groupby(["pair", "layer_type"], sort=False)["score"]
            .agg(score="mean", n_layers="count")
            .reset_index()
            .assign(kind=kind)
            for kind, table in study.items()
        ],
        ignore_index=True,
    )
    write_scores_csv(per_layer_scores(study, "pearson"), tmp_path / "scores.csv")
    table = pd.read_csv(tmp_path / "scores.csv")
    assert list(table.columns) == ["kind", "pair", "layer_type", "layer", "measure", "score"]
    assert not table.duplicated(["kind", "pair", "layer"]).any()
    assert len(table) == sum(len(t) for t in study.values())  # every layer, defined or not
    after = table.groupby(keys, sort=False)["score"].agg(score="mean", n_layers="count")
    merged = before.merge(after.reset_index(), on=keys, suffixes=("", "_csv"), validate="1:1")
    assert len(merged) == len(before) == len(after)
    np.testing.assert_allclose(merged["score_csv"], merged["score"], atol=1e-5)
    assert (merged["n_layers_csv"] == merged["n_layers"]).all()
    # a model against its constant initial LayerNorm scales: every layer kept, none scored
    undefined = table[(table.kind == "init") & (table.layer_type == "LayerNorm")]
    assert len(undefined) and undefined["score"].isna().all()


def test_router_probs_and_confusion(tmp_path) -> None:
    frames = {
        "dpdd": _eval_rows("dpdd", ["defocus", "defocus", "low_light"]),
        "gopro": _eval_rows("gopro", ["synth_global_motion"]),
        "real_lolblur": _eval_rows("real_lolblur", ["low_light", "low_light"], top=0.8),
    }
    paths = []
    for name, frame in frames.items():
        paths.append(tmp_path / f"{name}.csv")
        frame.to_csv(paths[-1], index=False)
    per_image = read_router_eval(paths)

    means = mean_router_probs(per_image)
    assert list(means.index) == ["dpdd", "gopro", "real_lolblur"]
    assert means.loc["dpdd", "defocus"] == pytest.approx((0.6 + 0.6 + 0.1) / 3)
    assert means.loc["real_lolblur", "low_light"] == pytest.approx(0.8)
    np.testing.assert_allclose(means.sum(axis=1), 1.0)

    matrix, accuracy = router_confusion(per_image)  # Real-LOLBlur has no task: left out
    expected = np.zeros((5, 5), dtype=int)
    expected[0, 0], expected[0, 4], expected[3, 3] = 2, 1, 1
    np.testing.assert_array_equal(matrix.to_numpy(), expected)
    assert accuracy == pytest.approx(3 / 4)

    frames["dpdd"].drop(columns=["prob_defocus"]).to_csv(tmp_path / "bad.csv", index=False)
    with pytest.raises(DataError, match=r"bad.csv: no router outputs.*prob_defocus"):
        read_router_eval([tmp_path / "bad.csv"])


def test_small_helpers() -> None:
    assert task_specific_model("gopro") == "nafnet_gopro"
    assert task_specific_model("rsblur") == "nafnet_realblur_j"
    assert task_specific_model("real_lolblur") == "nafnet_lolblur"
    image = np.arange(5 * 7 * 3).reshape(5, 7, 3)
    np.testing.assert_array_equal(center_crop(image, 3), image[1:4, 2:5])
    assert center_crop(image, 10).shape == image.shape
    records = [Record(f"{d}{i}.png", None, None, d, "test") for d in ("a", "b") for i in range(5)]
    chosen = sample_records(records, ["a", "b"], 3, seed=1)
    assert [r.dataset for r in chosen] == ["a"] * 3 + ["b"] * 3
    assert chosen == sample_records(records, ["a", "b"], 3, seed=1)
    with pytest.raises(DataError, match="no test images of dataset 'c'"):
        sample_records(records, ["c"], 3)


def test_zoom_box_finds_the_largest_error() -> None:
    error = np.zeros((30, 60))
    error[20:28, 41:55] = 1.0  # the hot spot, larger than the 10 x 20 window
    top, left, h, w = zoom_box(error)
    assert (h, w) == (10, 20)
    assert error[top : top + h, left : left + w].sum() == 8 * 14  # covers all of it
    assert zoom_box(np.zeros((9, 9))) == (0, 0, 3, 3)  # ties: the first window
    image = np.arange(30 * 60 * 3).reshape(30, 60, 3)
    assert zoomed(image, (2, 5, 4, 6)).shape == (4, 6, 3)


def test_image_psnr_is_the_evaluation_psnr_of_8_bit_images() -> None:
    sharp = np.full((8, 8, 3), 100, dtype=np.uint8)
    image = sharp.copy()
    image[0, 0, 0] = 110  # MSE = 10^2 / (8 * 8 * 3) in 8-bit units
    expected = 10 * math.log10(255**2 / (100 / 192))
    assert image_psnr(image, sharp) == pytest.approx(expected, abs=1e-3)
    assert math.isnan(image_psnr(image, None))


def test_network_stages_group_the_forward_pass() -> None:
    positions = ["intro", "encoder 1 block 1", "down 1", "middle block 1", "up 1", "ending"]
    assert network_stages(positions) == [("encoder", 0, 2), ("middle", 3, 3), ("decoder", 4, 5)]


def _assert_legible(fig: Figure) -> None:
    """Every visible text of ``fig`` is at least MIN_FONT_PT once the saved (tight)
    figure is printed at the paper's column width."""
    fig.canvas.draw()
    width = fig.get_tightbbox(fig.canvas.get_renderer()).width + 2 * SAVE_PAD_IN  # as saved
    scale = min(1.0, COLUMN_WIDTH_IN / width)
    texts = [
        t
        for t in fig.findobj(Text)
        if t.get_visible() and t.get_text().strip() and (t.axes is None or t.axes.get_visible())
    ]
    small = [(t.get_text(), t.get_fontsize() * scale) for t in texts]
    small = [(text, pt) for text, pt in small if pt < MIN_FONT_PT - 1e-6]
    assert not small, f"text under {MIN_FONT_PT} pt at {COLUMN_WIDTH_IN} in: {small[:5]}"


def test_fig02_draws_one_panel_per_pair_with_its_controls(artifacts) -> None:
    m = artifacts["models"]
    paths = [m / f"nafnet_{d}" / "model.safetensors" for d in AIO_BLUR[:3]]
    control = [m / f"nafnet_{AIO_BLUR[0]}_reseed" / "model.safetensors"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        study = similarity_study(paths, control, with_init=True)
    fig = pair_grid_figure(study, "r", "Fig. 2", threshold=0.7)
    panels = [ax for ax in fig.axes if ax.get_visible()]
    pairs = list(dict.fromkeys(study["pairs"]["pair"]))
    assert [ax.get_title() for ax in panels] == pairs  # 3 pairs of 3 models, one panel each
    n_layers = study["pairs"].groupby("pair").size().iloc[0]
    for ax, pair in zip(panels, pairs, strict=True):
        assert len(ax.patches) == n_layers  # one bar per layer
        markers = [line.get_marker() for line in ax.get_lines()]
        table = study["pairs"][study["pairs"]["pair"] == pair]
        has_seed = f"nafnet_{AIO_BLUR[0]}" in {*table["model_a"], *table["model_b"]}
        assert markers.count("o") == int(has_seed)  # the seed control only where it belongs
        assert markers.count("x") == 1  # every model has its initialisation control
        assert any(list(line.get_ydata()) == [0.7, 0.7] for line in ax.get_lines())
    for ax in panels[1:]:  # the lowest panel of each column (the last cell is empty)
        labels = [t.get_text() for t in ax.get_xticklabels() if t.get_visible()]
        assert labels == ["encoder", "middle", "decoder"]
    _assert_legible(fig)


def _type_scores(pairs: int = 20) -> pd.DataFrame:
    """Per-layer scores of ``pairs`` pairs (kinds "pairs", then "seed" from the 11th) and
    three layers of each of the four types; pair 0's layers all score 0.5, the others
    spread; pair 3 has no LayerNorm score."""
    rows = [
        {
            "kind": "pairs" if p < 10 else "seed",
            "pair": f"RealBlur-J – RealBlur-J (other seed) {p}",
            "layer_type": t,
            "layer": f"{t} {i}",
        }
        for p in range(pairs)
        for t in ("1x1 conv", "3x3 conv", "LayerNorm", "SCA")
        for i in range(3)
    ]
    scores = pd.DataFrame(rows)
    scores["score"] = np.random.default_rng(0).uniform(-0.1, 1, len(scores))
    scores.loc[scores["pair"].str.endswith(" 0"), "score"] = 0.5
    scores.loc[
        scores["pair"].str.endswith(" 3") & (scores["layer_type"] == "LayerNorm"), "score"
    ] = np.nan
    return scores


def test_type_bars_show_the_interval_over_layers_at_column_width() -> None:
    scores = _type_scores()
    settings = IntervalSettings(resamples=200, seed=1)
    fig = type_bar_figure(
        scores, "Weight correlation by layer type (controls below)", "r", settings
    )
    panels = fig.axes
    assert [ax.get_title() for ax in panels] == [
        f"{t}\n(3 layers)" for t in ("1x1 conv", "3x3 conv", "LayerNorm", "SCA")
    ]
    layer_norm = panels[2]
    assert [t.get_text().strip() for t in layer_norm.texts] == ["n/a"]
    assert len(layer_norm.patches) == 19 and len(panels[0].patches) == 20
    means = scores[scores.layer_type == "1x1 conv"].groupby("pair", sort=False)["score"]
    widths = [bar.get_width() for bar in panels[0].patches]
    np.testing.assert_allclose(widths, means.mean().to_numpy())
    whiskers = [line.get_xdata() for line in panels[0].get_lines() if len(line.get_xdata()) == 2]
    assert len(whiskers) >= 20
    low, high = np.array(whiskers[:20]).T
    assert low[0] == high[0] == 0.5  # equal layer scores: no spread
    assert (low[1:] < high[1:]).all()
    assert (low >= means.min().to_numpy() - 1e-12).all()  # within the layers' range
    assert (high <= means.max().to_numpy() + 1e-12).all()
    separators = [
        line.get_ydata()[0]
        for line in panels[0].get_lines()
        if line.get_ydata()[0] == line.get_ydata()[1]
    ]
    assert 9.5 in separators  # where the seed rows start
    assert "95 % bootstrap interval over the layers of the type" in fig.get_supxlabel()
    _assert_legible(fig)


def test_layer_bars_add_the_means_by_layer_type() -> None:
    scores = _type_scores(4).assign(
        position="encoder 1 block 1", filter_size=9, order=lambda f: f["layer"].factorize()[0]
    )
    by_type = layer_means({"pairs": scores, "seed": scores.assign(score=0.9)})
    assert list(by_type.columns) == ["layer", "layer_type", "score", "series"]
    assert len(by_type) == 2 * 12  # the layers of each series, averaged over its pairs
    fig = layer_bar_figure(
        layer_summary(scores), "r", "Fig. 8", 0.7, None, by_type, IntervalSettings(resamples=100)
    )
    main, side = fig.axes
    assert len(main.patches) == 12 and len(side.patches) == 2 * 4  # series x layer types
    assert [t.get_text() for t in side.get_xticklabels()] == ["pairs", "seed"]
    legend = [t.get_text() for t in main.get_legend().get_texts()]
    assert "by layer type: 95 % bootstrap interval over the layers of the type" in legend


def _row(dataset: str, paired: bool, seed: int) -> QualitativeRow:
    rng = np.random.default_rng(seed)
    crops = [rng.integers(0, 256, (30, 45, 3), dtype=np.uint8) for _ in range(4)]
    psnr = {"blurry": 20.0, "task_specific": 25.5, "demoe": 26.25}
    return QualitativeRow(
        dataset=dataset,
        blurry=crops[0],
        task_specific=crops[1],
        demoe=crops[2],
        sharp=crops[3] if paired else None,
        task_specific_name="nafnet_lolblur",
        box=(3, 6, 10, 15),
        psnr=psnr if paired else dict.fromkeys(psnr, math.nan),
    )


def test_qualitative_figure_zooms_and_names_psnr() -> None:
    fig = qualitative_figure([_row("gopro", True, 0), _row("real_lolblur", False, 1)], "Fig. 14")
    labels = [ax.get_xlabel() for ax in fig.axes]
    assert labels.count("n/a") == 2 and "n/a\nnafnet_lolblur" in labels
    assert {"20.00 dB", "25.50 dB\nnafnet_lolblur", "26.25 dB"} <= set(labels)
    shapes = [ax.images[0].get_array().shape[:2] for ax in fig.axes if ax.images]
    assert shapes.count((30, 45)) == 4 + 3 and shapes.count((10, 15)) == 4 + 3  # no sharp: 3
    assert sum(len(ax.patches) for ax in fig.axes) == 2 * 7  # the box on every full crop
    _assert_legible(fig)


# ---------------------------------------------------------------- fake DAG artifacts


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("results")
    torch.manual_seed(0)
    models = root / "models"
    fake = {"train": str(root / "train.jsonl"), "test": str(root / "test.jsonl")}
    for d in AIO_BLUR:  # "trained" = the initial weights of the config + a little noise
        for name, seed in ((f"nafnet_{d}", 0), (f"nafnet_{d}_reseed", 1000)):
            config = toy_config(
                fake, root, "nafnet", model={"overrides": SMALL}, run={"seed": seed}
            )
            write_config(config, models / name / "resolved_config.yaml")
            model = create_model("nafnet", **SMALL)
            model.load_state_dict(initial_state_dict(models / name / "model.safetensors"))
            save_model(randomize_affine(model, 0.05), models / name)
    save_model(randomize_affine(create_model("demoe", **SMALL)), models / "demoe")
    for name in ("baseline_aio", "baseline_aio_noclass"):
        model = create_model("demoe", block_experts=1, **SMALL)
        save_model(randomize_affine(model), models / name)
    save_model(randomize_affine(create_model("nafnet", **SMALL)), models / "baseline_original_arch")
    save_model(randomize_affine(create_model("nafnet", **SMALL)), models / "nafnet_lolv2_real")

    rng = np.random.default_rng(0)
    manifests = root / "data" / "manifests"
    images = root / "images"
    images.mkdir()
    for split, names in (("test", AIO_BLUR), ("ood", AIO_BLUR_OOD)):
        records = []
        for d in names:
            for i in range(4):
                blurry, sharp = images / f"{d}_{i}_b.png", images / f"{d}_{i}_s.png"
                base = rng.integers(0, 256, (24, 40, 3), dtype=np.uint8)
                Image.fromarray(base // 2 + 40 * TASKS.index(DATASETS[d].task)).save(blurry)
                Image.fromarray(base).save(sharp)
                paired = d != "real_lolblur"
                records.append(
                    Record(str(blurry), str(sharp) if paired else None, DATASETS[d].task, d, "test")
                )
        write_manifest(manifests / f"aioblur_{split}.jsonl", records)

    for d in (*AIO_BLUR, *AIO_BLUR_OOD):
        task = DATASETS[d].task
        routed = [task, task, TASKS[(TASKS.index(task) + 1) % len(TASKS)]]
        out = root / "eval" / "demoe" / d / "auto.csv"
        out.parent.mkdir(parents=True)
        _eval_rows(d, routed).to_csv(out, index=False)
    cost = pd.DataFrame(
        {
            "method": ["NAFNet", "DeMoE (k=1)"],
            "model": ["nafnet_original", "demoe"],
            "params_m": [17.1, 20.2],
            "macs_g": [16.0, 10.8],
            "runtime_ms": [445.5, 401.7],
            "size": [256, 256],
            "device": ["cpu", "cpu"],
        }
    )
    (root / "tables").mkdir()
    cost.to_csv(root / "tables" / "cost.csv", index=False)
    _write_lolblur_mse(manifests)
    return {"root": root, "models": models, "manifests": manifests}


def _write_lolblur_mse(manifests: Path) -> None:
    """The LOLBlur MSE bins of Fig. 10 as `demoe data build-aioblur` writes them."""
    edges, counts, kept = [0.0, 0.01, 0.02, 0.03, 0.04], [30, 20, 10, 2], [0, 1, 2]
    summary = {"edges": edges, "counts": counts, "kept_bins": kept, "drawn": [8, 8, 8]}
    report = {"datasets": {"lolblur": {"display": "LOLBlur", "balance": {"mse": summary}}}}
    (manifests / "build_report.json").write_text(json.dumps(report))
    rng = np.random.default_rng(1)
    rows = [
        {"dataset": "lolblur", "mse": rng.uniform(edges[b], edges[b + 1]), "bin": b}
        for b, n in enumerate(counts)
        for _ in range(n)
    ]
    pd.DataFrame(rows).to_csv(manifests / "mse_pairs.csv", index=False)


def _script(name: str):
    spec = importlib.util.spec_from_file_location(name, ANALYSIS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _check_png(path: Path) -> None:
    pixels = np.asarray(Image.open(path).convert("L"), dtype=np.float64)
    assert pixels.shape[0] > 100 and pixels.shape[1] > 100
    assert pixels.std() > 5.0, f"{path.name} is blank"
    assert path.with_suffix(".pdf").read_bytes().startswith(b"%PDF")


def _figure_run(a: dict[str, Path], **analysis: Any) -> FigureRun:
    """The fake artifacts as a run of the figure registry, every figure drawn."""
    settings = {
        "device": "cpu",
        "similarity": {"params": "weight", "threshold": 0.7, "cka_sigma_factor": 0.5},
        "fig08_other_checkpoint": None,
        "clip": {"model": "ViT-S-32", "pretrained": None, "allow_random": True, "batch_size": 8},
        "tsne": {"perplexity": 5, "seed": 0, "max_images_per_dataset": 3},
        "qualitative": {"crop": 16, "index": 0},
    }
    return FigureRun(
        results=str(a["root"]),
        aio=list(AIO_BLUR),
        ood=list(AIO_BLUR_OOD),
        analysis={**settings, **analysis},
        seed_controls=AIO_BLUR,
        lolv2_available=True,
    )


def _rule_args(run: FigureRun, name: str, out: Path) -> list[str]:
    """The arguments the figure's rule gives its script (its registry entry), with the
    figure's files in ``out``."""
    csv = paths.figure(run.results, name, "csv")
    arguments = shlex.split(figure(name).command_arguments(run))
    return [str(out / f"{name}.csv") if a == csv else a for a in arguments] + _figure_args(
        out, name
    )


def _figure_args(root: Path, name: str) -> list[str]:
    return ["--pdf", str(root / f"{name}.pdf"), "--png", str(root / f"{name}.png")]


def _draw(name: str, args: list[str]) -> int:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return run(_script(name).main, args)


#: Fig. 8's name of the other task's model (nafnet_lolv2_real), as its rule gives it.
LOLV2_LABEL = "LOLv2-real (low-light enhancement)"
#: Figures drawn at the paper's column width.
COLUMN_FIGURES = (
    "fig02_layer_correlation",
    "fig07_layer_type_correlation",
    "fig11_expert_correlation",
    "fig05_qualitative",
    "fig14_qualitative_ood",
)


@pytest.mark.parametrize("name", figure_names())
def test_figure_script_draws_from_its_rules_arguments(artifacts, tmp_path, name) -> None:
    """Every figure of the registry, drawn by its script from the arguments its rule gives."""
    assert _draw(name, _rule_args(_figure_run(artifacts), name, tmp_path)) == 0
    _check_png(tmp_path / f"{name}.png")
    if name in COLUMN_FIGURES:  # drawn at the column width: the PNG is no wider
        pixels = Image.open(tmp_path / f"{name}.png").size[0]
        assert pixels <= COLUMN_WIDTH_IN * DPI + 2, f"{name} is {pixels / DPI:.2f} in wide"
    assert (tmp_path / f"{name}.csv").is_file() == figure(name).csv


@pytest.mark.parametrize(
    ("name", "kinds"),
    [
        ("fig07_layer_type_correlation", {"pairs", "seed", "init"}),
        ("fig08_other_task_correlation", {"other_task", "pairs"}),
        ("fig09_cka", {"pairs", "seed", "init", "random"}),
        ("fig11_expert_correlation", {"experts"}),
    ],
)
def test_similarity_figures_write_tidy_csv(artifacts, tmp_path, name, kinds) -> None:
    assert _draw(name, _rule_args(_figure_run(artifacts), name, tmp_path)) == 0
    table = pd.read_csv(tmp_path / f"{name}.csv")
    assert list(table.columns) == ["kind", "pair", "layer_type", "layer", "measure", "score"]
    assert set(table["kind"]) == kinds
    assert set(table["layer_type"]) == {"1x1 conv", "3x3 conv", "LayerNorm", "SCA"}
    assert not table.duplicated(["kind", "pair", "layer"]).any()
    means = table.groupby(["kind", "layer_type", "pair"])["score"].mean()
    if name in ("fig07_layer_type_correlation", "fig09_cka"):  # the fixture's construction
        init = means.loc["init", "3x3 conv"]
        assert len(init) == len(AIO_BLUR) and (init > 0.95).all()
    if name == "fig07_layer_type_correlation":
        assert (means.loc["seed", "3x3 conv"].abs() < 0.3).all()
    if name == "fig08_other_task_correlation":
        other = set(table.loc[table.kind == "other_task", "pair"])  # named as the rule says
        assert other == {f"{DATASETS[d].display} – {LOLV2_LABEL}" for d in AIO_BLUR}
    if name == "fig09_cka":
        random = table[(table.kind == "random") & table.layer.str.contains("conv2")]
        assert random["score"].between(0.1, 0.6).all()  # depthwise 3x3 filters of 9 values


def test_layer_ids_are_the_same_in_figs_7_8_9(artifacts, tmp_path) -> None:
    """The NAFNets of Figs. 7, 8 and 9 share their architecture: every pair of every
    figure names the same layers, in the same order."""
    run = _figure_run(artifacts)
    ids = set()
    for name in ("fig07_layer_type_correlation", "fig08_other_task_correlation", "fig09_cka"):
        assert _draw(name, _rule_args(run, name, tmp_path)) == 0
        table = pd.read_csv(tmp_path / f"{name}.csv")
        table = table[table.kind != "random"]  # Fig. 9's baseline: one row per layer as well
        ids |= set(table.groupby(["kind", "pair"], sort=False)["layer"].apply(tuple))
    assert len(ids) == 1
    (layers,) = ids
    assert "intro.weight" in layers and "encoders.0.0.conv2.weight" in layers


@pytest.mark.parametrize(
    ("name", "datasets", "models"),
    [
        ("fig04_dataset_tsne", (*AIO_BLUR, *AIO_BLUR_OOD), [None]),
        (
            "fig13_encoder_tsne",
            AIO_BLUR,
            ["random_init", "no_class", "class_loss", "original_arch"],
        ),
    ],
)
def test_tsne_figures_write_per_image_silhouettes(
    artifacts, tmp_path, name, datasets, models
) -> None:
    """One row per image drawn (3 of the 4 test images of each dataset, per model), with
    its manifest path, its point and a silhouette in [-1, 1]."""
    assert _draw(name, _rule_args(_figure_run(artifacts), name, tmp_path)) == 0
    table = pd.read_csv(tmp_path / f"{name}.csv")
    columns = ["dataset", "image", "x", "y", "silhouette"]
    assert list(table.columns) == (columns if models == [None] else ["model", *columns])
    assert len(table) == 3 * len(datasets) * len(models)
    images = set((artifacts["root"] / "images").glob("*_b.png"))
    assert {Path(p) for p in table["image"]} <= images
    groups = table.groupby("model", sort=False) if "model" in table else [(None, table)]
    assert [model for model, _ in groups] == models
    for _, rows in groups:
        assert list(rows["dataset"].value_counts().sort_index().items()) == [
            (d, 3) for d in sorted(datasets)
        ]
        assert rows["image"].is_unique
        assert rows["silhouette"].between(-1, 1).all()
        assert np.isfinite(rows[["x", "y"]]).all().all()
        assert rows[["x", "y"]].std().min() > 0  # the map drawn, not a placeholder


def test_clip_without_weights_needs_allow_random(artifacts, tmp_path, capsys) -> None:
    clip = {"model": "ViT-S-32", "pretrained": None, "allow_random": False, "batch_size": 8}
    with pytest.raises(ConfigError, match="analysis.clip.pretrained: not set"):
        _figure_run(artifacts, clip=clip)  # the DAG refuses to build (a dry run fails)
    allowed = _figure_run(artifacts, clip={**clip, "allow_random": True})
    args = [a for a in _rule_args(allowed, "fig04_dataset_tsne", tmp_path) if a != "--allow-random"]
    assert run(_script("fig04_dataset_tsne").main, args) == 2  # the script refuses too
    assert "analysis.clip.pretrained" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())  # nothing half-written


def test_other_architecture_is_refused(artifacts, tmp_path, capsys) -> None:
    demoe = str(artifacts["models"] / "demoe" / "model.safetensors")
    fig08 = _figure_run(artifacts, fig08_other_checkpoint=demoe)
    args = _rule_args(fig08, "fig08_other_task_correlation", tmp_path)
    assert run(_script("fig08_other_task_correlation").main, args) == 2
    assert "cannot compare nafnet_dpdd with demoe" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())


def test_encoder_features_and_random_init(artifacts) -> None:
    path = artifacts["models"] / "baseline_aio" / "model.safetensors"
    a, b = random_init_model(path, seed=3), random_init_model(path, seed=3)
    assert json.dumps(a.config) == json.dumps(b.config)
    sd_a, sd_b = a.state_dict(), b.state_dict()
    assert all(torch.equal(sd_a[k], sd_b[k]) for k in sd_a)
    images = sorted((artifacts["root"] / "images").glob("dpdd_*_b.png"))[:2]
    feats = encoder_features(a, images)
    assert feats.shape == (2, 32) and feats.dtype == np.float32  # width 8, 2 levels: 32 channels
    assert not np.allclose(feats[0], feats[1])
