"""Every artifact says which scale made it: the label, and where it is printed."""

from __future__ import annotations

import argparse
import shlex
from pathlib import Path

import matplotlib.pyplot as plt
import yaml

from demoe.analysis.plots.cli import figure_parser, save
from demoe.experiments.scale import run_scale

REPO = Path(__file__).resolve().parents[1]


def config(name: str) -> dict:
    merged = yaml.safe_load((REPO / "config" / "config.yaml").read_text(encoding="utf-8"))
    if name != "config.yaml":
        override = yaml.safe_load((REPO / "config" / name).read_text(encoding="utf-8"))
        for key, value in override.items():
            merged[key] = {**merged[key], **value} if isinstance(value, dict) else value
    return merged


def test_the_default_is_a_miniature_and_the_paper_config_is_not() -> None:
    small = run_scale(config("config.yaml"))
    assert small.miniature and small.synthetic and small.shrunk
    assert "Miniature run: embedded synthetic data" in small.label
    assert "width ÷4, blocks ÷2" in small.label and "'small'" in small.label
    assert "not the shrunken models" in small.cost_note
    assert "measured at 256 px on cpu (rule cost_table)" in small.cost_note
    paper = run_scale(config("paper.yaml"))
    assert not paper.miniature
    assert paper.label.startswith("Paper scale run: real datasets, models at the paper's sizes")
    given = run_scale({**config("paper.yaml"), "checkpoints": {"demoe": "/m/DeMoE.pth"}})
    assert given.label.endswith("given weights: demoe.")


def test_note_options_carry_the_cost_note_only_with_cost_columns() -> None:
    scale = run_scale(config("config.yaml"))
    assert shlex.split(scale.note_options(False)) == ["--note", scale.label]
    assert shlex.split(scale.note_options(True))[-1] == scale.cost_note


def test_a_figure_prints_the_scale_under_it(tmp_path) -> None:
    args = figure_parser("Fig. X").parse_args(
        ["--pdf", str(tmp_path / "f.pdf"), "--png", str(tmp_path / "f.png"), "--scale", "Mini"]
    )
    fig, ax = plt.subplots()
    ax.plot([0, 1])
    save(fig, args)
    assert [t.get_text() for t in fig.texts] == ["Mini"] and (tmp_path / "f.png").is_file()
    # a title above the figure (Fig. 4's) stays clear of the scale line
    titled, _ = plt.subplots()
    titled.suptitle("t-SNE", y=1.0, va="bottom")
    title_top = titled.get_tightbbox().y1 / titled.get_figheight()  # figure fraction
    assert title_top > 1.0
    save(titled, args)
    scale = next(t for t in titled.texts if t.get_text() == "Mini")
    assert scale.get_position()[1] >= title_top
    # without --scale nothing is added
    bare = argparse.Namespace(pdf=str(tmp_path / "g.pdf"), png=str(tmp_path / "g.png"), scale="")
    fig2, _ = plt.subplots()
    save(fig2, bare)
    assert not fig2.texts and (tmp_path / "g.png").is_file()
