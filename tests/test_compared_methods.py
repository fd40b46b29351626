"""A compared method of Tables 1 and 2 declared once (demoe/experiments/paper_rows.py)
gets our row in both tables, the paper's rows it reproduces, its evaluations and its
cost row, with no other edit."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from demoe.experiments import paper_rows
from demoe.experiments.paper_rows import (
    COMPARED_METHODS,
    COST_ROWS,
    REPRODUCES,
    ComparedMethod,
    register_compared_method,
    unregister_compared_method,
)
from demoe.experiments.paper_tables import Evaluation, needed_evaluations, table_specs

METHOD = ComparedMethod(experiment="tinynet_aio", preset="tinynet", paper_name="TinyNet")


@pytest.fixture
def compared() -> Iterator[ComparedMethod]:
    yield register_compared_method(METHOD)
    unregister_compared_method(METHOD.experiment)


def test_a_compared_method_appears_in_tables_1_and_2(compared) -> None:
    specs = table_specs(compared=COMPARED_METHODS)
    for table in ("table1_aio_deblurring", "table2_ood"):
        rows = [r for r in specs[table].rows if r.experiment == "tinynet_aio"]
        assert len(rows) == 1 and rows[0].reported_as == "TinyNet", table
        assert rows[0].cost_model == "tinynet"
        assert REPRODUCES[table]["TinyNet"].experiment == "tinynet_aio"
        assert specs[table].rows[-1].experiment == "blurry_input"  # the reference row last
    assert COST_ROWS["tinynet"].method == "TinyNet"
    evaluations = needed_evaluations(specs.values())
    assert Evaluation("tinynet_aio", "gopro", "auto") in evaluations
    assert Evaluation("tinynet_aio", "realdof", "auto") in evaluations


def test_unregistering_leaves_no_trace(compared) -> None:
    unregister_compared_method(METHOD.experiment)
    specs = table_specs(compared=COMPARED_METHODS)
    assert not [r for s in specs.values() for r in s.rows if r.experiment == "tinynet_aio"]
    assert "TinyNet" not in REPRODUCES["table1_aio_deblurring"] and "tinynet" not in COST_ROWS
    register_compared_method(METHOD)  # for the fixture's teardown


def test_a_method_is_declared_once(compared) -> None:
    with pytest.raises(ValueError, match="already registered"):
        register_compared_method(METHOD)
    assert paper_rows.COMPARED_METHODS.count(METHOD) == 1


def test_table1_methods_are_registered_with_their_paper_rows() -> None:
    """Restormer, PromptIR, FFTFormer and SFHFormer (Table 1) are trained here; their rows
    reproduce the paper's in every table that prints them, with the * of Tables 8 and 9."""
    names = {m.paper_name: m for m in paper_rows.COMPARED_METHODS}
    assert {"Restormer", "PromptIR", "FFTFormer", "SFHFormer"} <= set(names)
    assert names["PromptIR"].tables == ("table1_aio_deblurring",)
    specs = table_specs(compared=COMPARED_METHODS)
    for name in ("Restormer", "FFTFormer", "SFHFormer"):
        for table, label in (
            ("table1_aio_deblurring", name),
            ("table2_ood", name),
            ("table8_ood_extended", f"{name}*"),
            ("table9_real_lolblur", f"{name}*"),
        ):
            rows = [r for r in specs[table].rows if r.experiment == names[name].experiment]
            assert [r.reported_as for r in rows] == [label], (table, name)
    assert COST_ROWS["promptir"].method == "PromptIR"


def test_a_run_without_competitors_has_no_rows_of_them() -> None:
    specs = table_specs(compared=[])
    experiments = {r.experiment for s in specs.values() for r in s.rows}
    assert not experiments & {m.experiment for m in paper_rows.COMPARED_METHODS}
    assert "demoe" in experiments
