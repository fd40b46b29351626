"""The evaluation plan (demoe/experiments/paper_tables.py): which `demoe eval` runs each table needs."""

from __future__ import annotations

from pathlib import Path

import pytest

from demoe.errors import ConfigError
from demoe.experiments.catalogue import EXPERIMENTS
from demoe.experiments.paper_tables import (
    BLURRY_INPUT,
    Evaluation,
    check_experiments,
    eval_metrics,
    needed_evaluations,
    parse_run,
    run_name,
    table_evaluations,
    table_specs,
    tlc_cli_value,
)
from demoe.tasks import AIO_BLUR, AIO_BLUR_OOD, BENCHMARK, DATASETS, TASKS

EXPECTED_TABLES = {
    "table1_aio_deblurring",
    "table2_ood",
    "table3_task_specific",
    "table5_ablations",
    "table6_tlc",
    "table8_ood_extended",
    "table9_real_lolblur",
    "table_fig06_training_strategy",
    "table7_expert_blocks",
}


@pytest.fixture(scope="module")
def specs():
    return table_specs(["low_light", "gopro"])


def test_every_results_table_is_planned(specs):
    assert set(specs) == EXPECTED_TABLES
    assert {s.number for s in specs.values()} == {"1", "2", "3", "5", "6", "7", "8", "9", "Fig. 6"}


def test_every_planned_experiment_is_trained(specs):
    evals = needed_evaluations(specs.values())
    check_experiments(evals)  # raises if a name is not in demoe.experiments.catalogue
    assert {e.experiment for e in evals} <= set(EXPERIMENTS) | {BLURRY_INPUT}
    with pytest.raises(ConfigError, match="not_trained"):
        check_experiments([Evaluation("not_trained", "dpdd", "auto")])


def test_router_figures_get_demoe_on_every_set_and_each_expert_on_ood(specs):
    evals = set(needed_evaluations(specs.values()))
    assert {Evaluation("demoe", d, "auto") for d in BENCHMARK} <= evals
    assert not any(e.dataset == "lolv2_real" for e in evals)  # Fig. 8's training set only
    assert {Evaluation("demoe", d, t) for d in AIO_BLUR_OOD for t in TASKS} <= evals
    assert len(evals) == len(needed_evaluations(specs.values()))  # no duplicates


def test_table1_rows_cover_the_five_test_sets_with_cost(specs):
    spec = specs["table1_aio_deblurring"]
    assert spec.datasets == AIO_BLUR and spec.cost and spec.average
    evals = table_evaluations(spec)
    assert len(evals) == len(spec.rows) * len(AIO_BLUR)
    assert all(e.expert == "auto" and e.tlc is None for e in evals)
    assert {r.cost_model for r in spec.rows} >= {"demoe", "nafnet", "nafnet_original_arch"}


def test_table2_router_vs_manual_expert(specs):
    evals = table_evaluations(specs["table2_ood"])
    assert {(e.dataset, e.expert) for e in evals} == {
        (d, x) for d in AIO_BLUR_OOD for x in ("auto", *TASKS)
    }


def test_table3_star_models_only_on_their_own_dataset(specs):
    evals = table_evaluations(specs["table3_task_specific"])
    stars = [e for e in evals if e.experiment.startswith("demoe_star_")]
    assert sorted((e.experiment, e.dataset) for e in stars) == sorted(
        (f"demoe_star_{d}", d) for d in AIO_BLUR
    )


def test_table6_tlc_variants_and_table8_matching_expert(specs):
    runs = {e.run for e in table_evaluations(specs["table6_tlc"])}
    assert runs == {"auto", "auto_tlc-all", "auto_tlc-low_light+synth_global_motion"}
    matching = {
        (e.dataset, e.expert)
        for e in table_evaluations(specs["table8_ood_extended"])
        if e.experiment == "demoe" and e.expert != "auto"
    }
    assert matching == {("realdof", "defocus"), ("rsblur", "global_motion")}


def test_dropped_datasets_are_left_out(specs):
    evals = needed_evaluations(specs.values(), datasets=[d for d in DATASETS if d != "rsblur"])
    assert evals and all(e.dataset != "rsblur" for e in evals)


def test_run_names_round_trip_and_bad_names_are_refused():
    assert run_name("auto") == "auto"
    assert parse_run(run_name("defocus", "all")) == ("defocus", "all")
    assert parse_run("auto_tlc-low_light+defocus") == ("auto", "low_light+defocus")
    assert tlc_cli_value("low_light+defocus") == "low_light,defocus"
    for bad in ("foo", "auto_tlc-foo", "auto_tlc-"):
        with pytest.raises((ConfigError, ValueError)):
            parse_run(bad)


def test_eval_paths_and_metrics_per_dataset():
    ev = Evaluation("demoe", "realdof", "defocus", "all")
    assert ev.path("R", ".csv") == Path("R/eval/demoe/realdof/defocus_tlc-all.csv")
    cfg = {
        "metrics": ["psnr", "ssim"],
        "no_reference_metrics": ["niqe"],
        "unpaired": ["real_lolblur"],
    }
    assert eval_metrics("real_lolblur", cfg) == ["niqe"]
    assert eval_metrics("dpdd", cfg) == ["psnr", "ssim"]


def test_task_specific_demoe_star_uses_its_own_expert_not_the_router():
    from demoe.experiments.paper_tables import table_evaluations, table_specs
    from demoe.tasks import AIO_BLUR, DATASETS

    spec = table_specs()["table3_task_specific"]
    star = {
        e.dataset: e.expert
        for e in table_evaluations(spec)
        if e.experiment.startswith("demoe_star_")
    }
    assert star == {d: DATASETS[d].task for d in AIO_BLUR}


def test_blurry_input_reference_row_in_tables_1_2_3_8_9(specs):
    """The blurry-input reference row: the degraded input itself, once per dataset of each
    table, never trained."""
    with_row = {
        name for name, spec in specs.items() if any(r.experiment == BLURRY_INPUT for r in spec.rows)
    }
    assert with_row == {
        "table1_aio_deblurring",
        "table2_ood",
        "table3_task_specific",
        "table8_ood_extended",
        "table9_real_lolblur",
    }
    blurry = [e for e in needed_evaluations(specs.values()) if e.experiment == BLURRY_INPUT]
    assert sorted(e.dataset for e in blurry) == sorted(BENCHMARK)
    assert all(e.run == "auto" for e in blurry)
    check_experiments(blurry)  # no training needed
