"""Seed replicates (``train.replicates``): replicate k of experiment E is ``E_rep<k>``, the
same training with run.seed + k, from its parent's replicate k where there is one, trained
and evaluated like E."""

from __future__ import annotations

import json
import re
from pathlib import Path
from types import SimpleNamespace

import jsonschema
import pytest
import yaml
from snakemake.utils import update_config

from demoe.errors import ConfigError
from demoe.experiments.catalogue import (
    EXPERIMENTS,
    MAX_REPLICATES,
    experiment,
    experiment_names,
    init_chain,
    replicate_counts,
    replicate_index,
    replicate_names,
    resolve_dict,
    seed_replicates,
)
from demoe.experiments.eval_jobs import eval_jobs
from demoe.experiments.paper_tables import (
    BLURRY_INPUT,
    Evaluation,
    check_experiments,
    needed_evaluations,
    replicate_evaluations,
    table_specs,
)
from demoe.tasks import BENCHMARK

REPO = Path(__file__).resolve().parents[1]
#: Keys of a resolved config that name the experiment (or its parent), not its training.
NAMING = {"experiment", "description", "output", "checkpoint_dir"}


def _yaml(name: str) -> dict:
    return yaml.safe_load((REPO / "config" / name).read_text(encoding="utf-8"))


def merged(*names: str) -> dict:
    """config/config.yaml with ``names`` deep-merged over it, as Snakemake merges them."""
    config = _yaml("config.yaml")
    for name in names:
        update_config(config, _yaml(name))
    return config


@pytest.fixture(scope="module")
def profile() -> dict:
    return _yaml("config.yaml")["train"]


def _training(obj: dict) -> dict:
    """A resolved config without the keys that name the experiment, its seed and its start."""
    out = {k: v for k, v in obj.items() if k not in NAMING}
    out["run"] = {k: v for k, v in obj["run"].items() if k != "seed"}
    out["init"] = {k: v for k, v in obj["init"].items() if k != "source"}
    out["extra"] = {k: v for k, v in obj["extra"].items() if k != "init_from"}
    return out


def test_no_catalogue_name_looks_like_a_replicate():
    assert not [n for n in EXPERIMENTS if re.search(r"_rep\d+$", n)]
    assert all(replicate_index(n) == (n, 0) for n in EXPERIMENTS)


def test_names_follow_their_experiment_in_seed_order():
    counts = {"demoe": 3, "baseline_aio": 2}
    assert replicate_names("demoe", counts) == ["demoe", "demoe_rep1", "demoe_rep2"]
    assert replicate_names("baseline_aio_noclass", counts) == ["baseline_aio_noclass"]
    names = experiment_names(counts)
    assert len(names) == len(EXPERIMENTS) + 3 and experiment_names() == list(EXPERIMENTS)
    at = names.index("demoe")
    assert names[at : at + 3] == ["demoe", "demoe_rep1", "demoe_rep2"]
    assert replicate_index("demoe_rep2") == ("demoe", 2)
    assert replicate_index("nosuch_rep2") == ("nosuch_rep2", 0)


def test_a_replicate_is_its_experiment_with_the_seed_plus_k(profile):
    counts = {"baseline_aio": 3, "demoe": 3}
    for name in ("baseline_aio", "demoe"):
        base = resolve_dict(name, profile, "res", counts)
        for k in (1, 2):
            rep = resolve_dict(f"{name}_rep{k}", profile, "res", counts)
            assert rep["run"]["seed"] == base["run"]["seed"] + k
            assert rep["run"]["init_seed"] is None  # initial weights drawn from the seed too
            assert rep["output"] == f"res/models/{name}_rep{k}"
            assert rep["checkpoint_dir"] != base["checkpoint_dir"]
            assert _training(rep) == _training(base)  # same experiment, same overrides
    assert resolve_dict("baseline_aio_rep1", profile)["schedule"]["steps"] == 600  # stage 1's


def test_a_replicate_starts_from_its_parents_replicate_k_where_there_is_one(profile):
    counts = {"baseline_aio": 2, "demoe": 3, "demoe_star_gopro": 3}
    assert experiment("demoe_rep1", counts).init_from == "baseline_aio_rep1"
    assert experiment("demoe_rep2", counts).init_from == "baseline_aio"  # only 2 of the parent
    assert experiment("baseline_aio_rep1", counts).init_from is None
    assert init_chain("demoe_star_gopro_rep1", counts) == ["demoe_rep1", "baseline_aio_rep1"]
    assert init_chain("demoe_star_gopro_rep2", counts) == ["demoe_rep2", "baseline_aio"]
    source = resolve_dict("demoe_rep1", profile, "res", counts)["init"]["source"]
    assert source == "res/models/baseline_aio_rep1"
    assert experiment("demoe_rep1", counts).description.endswith(
        "Seed replicate 1: run.seed + 1, from baseline_aio_rep1"
    )


def test_replicates_of_a_seed_control_keep_the_same_replicates_initial_weights(profile):
    counts = {"nafnet_gopro": 2, "nafnet_gopro_reseed": 2}
    seed = profile["settings"]["run"]["seed"]
    model = resolve_dict("nafnet_gopro_rep1", profile, "res", counts)["run"]
    control = resolve_dict("nafnet_gopro_reseed_rep1", profile, "res", counts)["run"]
    assert (model["seed"], model["init_seed"]) == (seed + 1, None)
    assert (control["seed"], control["init_seed"]) == (seed + 1001, seed + 1)


@pytest.mark.parametrize(
    ("name", "counts"),
    [
        ("demoe_rep1", None),  # not replicated
        ("demoe_rep3", {"demoe": 3}),
        ("demoe_rep0", {"demoe": 3}),
        ("demoe_rep01", {"demoe": 3}),
        ("nosuch_rep1", {"demoe": 3}),
    ],
)
def test_unknown_replicates_are_one_line_errors(name, counts, profile):
    with pytest.raises(ConfigError, match=f"^unknown experiment '{name}'; valid: [^\n]*$"):
        experiment(name, counts)
    with pytest.raises(ConfigError, match="unknown experiment"):
        resolve_dict(name, {**profile, "replicates": counts})


@pytest.mark.parametrize(
    ("replicates", "message"),
    [
        ({"demoe_typo": 2}, "train.replicates.demoe_typo: not an experiment"),
        ({"demoe_rep1": 2}, "train.replicates.demoe_rep1: not an experiment"),
        ({"demoe": 0}, "train.replicates.demoe: 0 is not between 1 and 20"),
        ({"demoe": MAX_REPLICATES + 1}, "train.replicates.demoe: 21 is not between"),
        ({"demoe": "3"}, "train.replicates.demoe: '3' is not an integer"),
        ({"demoe": True}, "train.replicates.demoe: True is not an integer"),
        ({"demoe": 2.5}, "train.replicates.demoe: 2.5 is not an integer"),
        (["demoe"], "train.replicates: expected a mapping"),
    ],
)
def test_hostile_counts_are_one_line_errors_naming_the_key(replicates, message, profile):
    with pytest.raises(ConfigError, match=f"^{re.escape(message)}[^\n]*$"):
        replicate_counts(replicates)
    with pytest.raises(ConfigError, match=re.escape(message)):
        seed_replicates({"train": {"replicates": replicates}})
    with pytest.raises(ConfigError, match=re.escape(message)):
        resolve_dict("demoe", {**profile, "replicates": replicates})


@pytest.mark.parametrize(
    ("replicates", "valid"),
    [
        ({"demoe": 1, "baseline_aio": 20}, True),
        ({}, True),
        ({"demoe": 0}, False),
        ({"demoe": 21}, False),
        ({"demoe": "3"}, False),
        ({"demoe": 2.5}, False),
        ({"DeMoE!": 2}, False),
        (None, False),
    ],
)
def test_schema_bounds_the_counts(replicates, valid):
    schema = yaml.safe_load((REPO / "config/schema/config.schema.yaml").read_text("utf-8"))
    config = _yaml("config.yaml")
    config["train"]["replicates"] = replicates
    assert jsonschema.Draft202012Validator(schema).is_valid(config) is valid


def test_the_shipped_configs_replicates():
    assert seed_replicates(_yaml("config.yaml")) == {
        "baseline_aio": 3,
        "baseline_aio_noclass": 3,
        "demoe": 3,
    }
    assert seed_replicates(merged("test.yaml")) == {
        "baseline_aio": 2,
        "baseline_aio_noclass": 1,
        "demoe": 2,
    }
    paper = merged("paper.yaml")  # its 1s override the default's 3s: the paper trains once
    assert experiment_names(seed_replicates(paper)) == list(EXPERIMENTS)


def test_experiments_with_fixed_weights_have_no_replicates():
    config = {**merged("test.yaml"), "checkpoints": {"baseline_aio": "published.pth"}}
    counts = seed_replicates(config)
    assert counts == {"baseline_aio_noclass": 1, "demoe": 2}
    assert experiment("demoe_rep1", counts).init_from == "baseline_aio"  # the fixed weights


def test_every_evaluation_of_an_experiment_is_planned_for_each_replicate():
    specs = table_specs().values()
    counts = {"baseline_aio": 2, "demoe": 3}
    base = needed_evaluations(specs, BENCHMARK)
    plan = needed_evaluations(specs, BENCHMARK, counts)
    for name, n in counts.items():
        own = [e for e in base if e.experiment == name]
        assert own
        for k in range(1, n):
            replicate = [e for e in plan if e.experiment == f"{name}_rep{k}"]
            assert [(e.dataset, e.run) for e in replicate] == [(e.dataset, e.run) for e in own]
    assert (
        len(plan)
        == len(set(plan))
        == len(base)
        + sum((n - 1) * sum(e.experiment == name for e in base) for name, n in counts.items())
    )
    assert [e for e in plan if "_rep" not in e.experiment] == base
    check_experiments(plan, counts)
    with pytest.raises(ConfigError, match="demoe_rep1"):
        check_experiments(plan)
    evaluation = Evaluation("demoe", "gopro", "auto", "all")
    assert replicate_evaluations(evaluation, counts) == [
        evaluation,
        Evaluation("demoe_rep1", "gopro", "auto", "all"),
        Evaluation("demoe_rep2", "gopro", "auto", "all"),
    ]
    assert [str(e.path("res", ".csv")) for e in replicate_evaluations(evaluation, counts)] == [
        "res/eval/demoe/gopro/auto_tlc-all.csv",
        "res/eval/demoe_rep1/gopro/auto_tlc-all.csv",
        "res/eval/demoe_rep2/gopro/auto_tlc-all.csv",
    ]
    blurry = Evaluation(BLURRY_INPUT, "gopro", "auto")
    assert replicate_evaluations(blurry, counts) == [blurry]


def test_a_replicate_gets_its_own_evaluation_job_reading_its_own_model():
    plan = needed_evaluations(table_specs().values(), BENCHMARK, {"demoe": 2})
    jobs = {j.experiment: j for j in eval_jobs(plan)}
    base, rep = jobs["demoe"], jobs["demoe_rep1"]
    assert rep.rule_name == "evaluate_demoe_rep1" and rep.runtime == base.runtime
    assert [(e.dataset, e.run) for e in rep.evaluations] == [
        (e.dataset, e.run) for e in base.evaluations
    ]
    assert rep.source("res") == "--model res/models/demoe_rep1"
    assert all("/eval/demoe_rep1/" in p for p in rep.outputs("res"))


def test_train_jobs_train_every_replicate_from_its_parents_replicate():
    from demoe.experiments.catalogue import manifests
    from demoe.workflow import TrainJobs

    config = merged("test.yaml")
    jobs = TrainJobs(config["train"], "res", manifests("res"), True, (), seed_replicates(config))
    models = jobs.default_models()
    for name in ("baseline_aio_rep1", "demoe_rep1"):
        assert f"res/models/{name}/model.safetensors" in models
    assert not any("_rep2" in m or "baseline_aio_noclass_rep" in m for m in models)
    wildcards = SimpleNamespace(experiment="demoe_rep1")
    assert jobs.init_model(wildcards) == [
        "res/models/baseline_aio_rep1/model.safetensors",
        "res/models/baseline_aio_rep1/config.json",
    ]
    settings = json.loads(jobs.settings(wildcards))
    seed = config["train"]["settings"]["run"]["seed"]
    assert settings["run"]["seed"] == seed + 1 and settings["experiment"] == "demoe_rep1"
