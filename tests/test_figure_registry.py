"""The figure registry (demoe/analysis/figures.py): one entry per figure script, and every
list of figures derived from it (the rules' targets, the report sections, the tests' lists)."""

from __future__ import annotations

import shlex
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from demoe.analysis.figures import (
    FIGURES,
    Figure,
    FigureRun,
    clip_options,
    drawn_figures,
    figure,
    figure_names,
    figure_targets,
    register,
    unregister,
)
from demoe.analysis.report_html import report_category, report_sections, section_category
from demoe.errors import ConfigError
from demoe.tasks import AIO_BLUR, AIO_BLUR_OOD

REPO = Path(__file__).resolve().parents[1]
ANALYSIS = yaml.safe_load((REPO / "config" / "config.yaml").read_text(encoding="utf-8"))["analysis"]
DUMMY = "fig99_dummy"


def _run(**changes: Any) -> FigureRun:
    """The embedded default's facts (results folder "res"), with ``changes``."""
    facts = {
        "results": "res",
        "aio": list(AIO_BLUR),
        "ood": list(AIO_BLUR_OOD),
        "analysis": ANALYSIS,
        "seed_controls": AIO_BLUR,
        "lolv2_available": True,
    }
    return FigureRun(**{**facts, **changes})


def _dummy() -> Figure:
    return Figure(
        name=DUMMY,
        number=99,
        section="App. A",
        arguments="--models {input.models:q} --csv {output.csv:q}",
        inputs=lambda run: {"models": [run.model("nafnet_dpdd")]},
        csv=True,
    )


@pytest.fixture
def dummy() -> Iterator[Figure]:
    """A figure registered for one test only."""
    yield register(_dummy())
    unregister(DUMMY)


def test_every_script_has_one_entry_with_its_caption():
    names = figure_names()
    assert len(names) == len(set(names))
    assert sorted(names) == sorted(p.stem for p in (REPO / "analysis").glob("fig*.py"))
    for fig in FIGURES:
        assert fig.caption(REPO).is_file(), fig.name
        assert fig.name.startswith(f"fig{fig.number:02d}_"), fig.name
        assert section_category(fig.section) in report_sections().values(), fig.name


def test_a_registered_figure_appears_in_every_derived_list(dummy):
    run = _run()
    assert figure_names()[-1] == DUMMY and figure(DUMMY) is dummy
    assert drawn_figures(run)[-1] is dummy
    targets = figure_targets(run)
    assert {f"res/figures/{DUMMY}.{ext}" for ext in ("pdf", "png", "csv")} <= set(targets)
    assert report_sections()[DUMMY] == report_category(DUMMY) == "4 App. A Similarity of weights"
    models = " ".join(shlex.quote(m) for m in dummy.inputs(run)["models"])
    assert dummy.command_arguments(run) == f"--models {models} --csv res/figures/{DUMMY}.csv"
    assert dummy.csv_output("res") == {"csv": f"res/figures/{DUMMY}.csv"}
    with pytest.raises(ValueError, match="already a figure"):
        register(_dummy())


def test_unregistering_leaves_no_trace():
    register(_dummy())
    unregister(DUMMY)
    assert DUMMY not in figure_names() and DUMMY not in report_sections()
    assert not [t for t in figure_targets(_run()) if DUMMY in t]
    with pytest.raises(ValueError, match="no paper section"):
        report_category(DUMMY)
    with pytest.raises(ValueError, match="not a figure"):
        unregister(DUMMY)


def test_the_default_run_draws_every_figure():
    targets = figure_targets(_run())
    assert targets[:2] == [f"res/figures/{FIGURES[0].name}.{ext}" for ext in ("pdf", "png")]
    assert [t for t in targets if not t.endswith(".csv")] == [
        f"res/figures/{name}.{ext}" for name in figure_names() for ext in ("pdf", "png")
    ]
    assert [t for t in targets if t.endswith(".csv")] == [
        f"res/figures/{name}.csv"
        for name in (
            "fig04_dataset_tsne",
            "fig07_layer_type_correlation",
            "fig08_other_task_correlation",
            "fig09_cka",
            "fig11_expert_correlation",
            "fig13_encoder_tsne",
        )
    ]


def test_fig14_needs_ood_data_and_fig08_its_other_task_model(tmp_path):
    def drawn(run: FigureRun) -> list[str]:
        return [f.name for f in drawn_figures(run)]

    assert "fig14_qualitative_ood" not in drawn(_run(ood=[]))
    assert "fig14_qualitative_ood" in drawn(_run())
    without = _run(lolv2_available=False)
    assert "fig08_other_task_correlation" not in drawn(without)
    assert not [t for t in figure_targets(without) if "fig08" in t]
    fig08 = figure("fig08_other_task_correlation")
    assert fig08.inputs(_run())["other"] == "res/models/nafnet_lolv2_real/model.safetensors"
    assert shlex.split(fig08.params(_run())["label"])[1] == "LOLv2-real (low-light enhancement)"
    other = tmp_path / "other.safetensors"
    other.touch()
    given = _run(lolv2_available=False, analysis={**ANALYSIS, "fig08_other_checkpoint": str(other)})
    assert "fig08_other_task_correlation" in drawn(given)
    assert fig08.inputs(given)["other"] == str(other) and fig08.params(given)["label"] == ""
    with pytest.raises(ConfigError, match="fig08_other_checkpoint: no checkpoint at"):
        _run(analysis={**ANALYSIS, "fig08_other_checkpoint": str(tmp_path / "missing")})


def test_study_inputs_follow_the_datasets_and_seed_controls():
    inputs = figure("fig02_layer_correlation").inputs(
        _run(aio=["dpdd", "gopro"], seed_controls=["gopro"])
    )
    assert inputs == {
        "models": [
            "res/models/nafnet_dpdd/model.safetensors",
            "res/models/nafnet_gopro/model.safetensors",
        ],
        "controls": ["res/models/nafnet_gopro_reseed/model.safetensors"],
        "configs": [
            "res/models/nafnet_dpdd/resolved_config.yaml",
            "res/models/nafnet_gopro/resolved_config.yaml",
        ],
    }


def test_router_figures_read_demoe_config_for_its_weights():
    """The router figures name given DeMoE weights from the model folder's config.json
    (file name and SHA-256, written by the import), so it is their input."""
    fig = figure("fig12_router_confusion")
    inputs = fig.inputs(_run())
    assert inputs["model"] == "res/models/demoe/config.json"
    assert inputs["csv"] == [f"res/eval/demoe/{d}/auto.csv" for d in AIO_BLUR]
    assert "--model {input.model:q}" in fig.arguments


def test_clip_options():
    clip = {"model": "ViT-B-32", "batch_size": 8, "pretrained": "a b.pt", "allow_random": True}
    args = shlex.split(clip_options(clip))
    assert args == [
        "--clip-model",
        "ViT-B-32",
        "--batch-size",
        "8",
        "--clip-pretrained",
        "a b.pt",
        "--allow-random",
    ]


def test_command_arguments_quote_like_snakemake():
    """Lists join with spaces, ``:q`` quotes each item, a bare field goes in as it is."""
    fig = Figure(
        name="fig98_probe",
        number=98,
        section="App. A",
        arguments="--models {input.models:q} {params.raw} --label {params.label:q}",
        inputs=lambda run: {"models": ["a b.safetensors", "c"]},
        params=lambda run: {"raw": "--flag 'x y'", "label": "it's"},
    )
    assert fig.command_arguments(_run()) == (
        "--models 'a b.safetensors' c --flag 'x y' --label 'it'\"'\"'s'"
    )


def test_each_figure_rule_gets_its_own_arguments():
    """The arguments are filled in per figure when the rule is defined (a rule made in a
    loop cannot name its figure in ``shell:``): no two figures share them."""
    run = _run()
    arguments = [f.command_arguments(run) for f in drawn_figures(run)]
    assert len(set(arguments)) == len(arguments)
    assert "{" not in "".join(arguments)
