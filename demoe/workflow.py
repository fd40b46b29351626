"""The Python side of the Snakemake workflow (``workflow/rules/*.smk``).

The rule files hold rules only (``snakemake --lint``); what they compute at DAG build
(config checks, input and param functions, option strings) lives here, where it has type
hints and tests. Functions and classes take what they need (the config sections, the
results folder, the workflow's rules) as arguments instead of reading Snakemake globals.

Shell commands run ``python -m demoe.cli`` and ``python -m analysis.<script>`` from the
repository root (Snakemake's working directory), so ``demoe`` and ``analysis`` import from
the checkout in every environment, the per-rule conda env (``--use-conda``) included; that
``python`` is the interpreter running Snakemake (see :func:`rule_shell_prefix`).
"""

from __future__ import annotations

import json
import os
import re
import shlex
import sys
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from demoe import paths
from demoe.errors import ConfigError
from demoe.experiments.catalogue import (
    EXPERIMENTS,
    add_experiment,
    compared,
    compared_experiment,
    experiment,
    experiment_names,
    replicate_index,
    resolve_config,
)
from demoe.experiments.paper_rows import COMPARED_METHODS, ComparedMethod, compared_to_json
from demoe.experiments.paper_tables import BLURRY_INPUT
from demoe.models.registry import ARCHITECTURES, PRESETS, register_architecture
from demoe.models.user import check_user_model, import_user_class, user_architecture, user_class
from demoe.tasks import OTHER_TASK
from demoe.train.config import TrainConfig

# --- set-up checks (common.smk) --------------------------------------------------------


def rule_shell_prefix(env_deployment: bool, executable: str = sys.executable) -> str:
    """Snakemake's ``shell.prefix`` for every rule: bash strict mode (Snakemake's default)
    and, unless the rules run in their own software environment (``--use-conda`` or a
    container: ``env_deployment``), the folder of the interpreter running Snakemake first
    on ``PATH``, so ``.venv/bin/snakemake`` called by its path (a script, cron, an IDE, a
    cluster submit script) runs every rule's ``python`` from its own environment,
    activated or not."""
    strict = "set -euo pipefail; "
    if env_deployment:
        return strict
    folder = shlex.quote(str(Path(executable).parent))
    # shell.prefix formats its argument like a rule's command: braces are doubled
    return (strict + f'export PATH={folder}:"$PATH"; ').replace("{", "{{").replace("}", "}}")


def fixed_checkpoints(mapping: Mapping[str, str]) -> dict[str, str]:
    """``checkpoints:`` (experiment -> file of fixed weights) checked, paths normalised as
    given; ConfigError for an unknown experiment or a missing file."""
    for name, path in mapping.items():
        if name not in EXPERIMENTS:
            raise ConfigError(
                f"checkpoints.{name}: not an experiment of demoe/experiments/catalogue.py "
                f"({', '.join(EXPERIMENTS)})"
            )
        if not Path(path).exists():
            raise ConfigError(f"checkpoints.{name}: no checkpoint at {path}")
    # As given (relative to the working directory or absolute): a moved project keeps them.
    return {name: os.path.normpath(path) for name, path in mapping.items()}


# --- compared methods and the user's own models (common.smk) ---------------------------

#: A key of config ``models:``: it names the user's preset and experiment ``<key>_aio``.
_MODEL_KEY = re.compile(r"[a-z][a-z0-9_]*")
#: The results tables a user's model gets a row in (those of the compared methods).
USER_MODEL_TABLES: tuple[str, ...] = ("table1_aio_deblurring", "table2_ood")
#: The user's models registered by :func:`register_user_models` in this process.
USER_METHODS: dict[str, ComparedMethod] = {}


def register_user_models(models: Mapping[str, Any]) -> list[ComparedMethod]:
    """Config ``models:`` (key -> {class: "package.module:Class", kwargs, paper_name}): each
    class imported, tried on a 1x3x32x32 image and registered as architecture
    ``user:<class>`` with the preset ``<key>``, and its experiment ``<key>_aio`` added to the
    catalogue, trained and evaluated like a compared method (Tables 1 and 2). Returns their
    :class:`~demoe.experiments.paper_rows.ComparedMethod` rows (not reported by the paper).
    ConfigError naming the key (``models.<key>.class: ...``) otherwise; registering the same
    models again (a second DAG build in one process) is a no-op."""
    methods = []
    for key, entry in (models or {}).items():
        where = f"models.{key}"
        if not _MODEL_KEY.fullmatch(str(key)):
            raise ConfigError(f"{where}: the key must match [a-z][a-z0-9_]*")
        if not isinstance(entry, Mapping) or not isinstance(entry.get("class"), str):
            raise ConfigError(f"{where}.class: the model's class as 'package.module:Class'")
        kwargs = dict(entry.get("kwargs") or {})
        arch = user_architecture(entry["class"])
        preset = {"architecture": arch, **kwargs}
        if key in PRESETS and PRESETS[key] != preset or key in ARCHITECTURES:
            raise ConfigError(f"{where}: {key!r} is already a model preset or architecture")
        name = compared_experiment(key)
        if name in EXPERIMENTS and EXPERIMENTS[name].preset != key:
            raise ConfigError(f"{where}: experiment {name!r} already exists")
        import_user_class(entry["class"], f"{where}.class")  # its errors name the key
        cls = user_class(entry["class"]) if arch not in ARCHITECTURES else ARCHITECTURES[arch]
        check_user_model(cls, kwargs, f"{where}.class")
        register_architecture(arch, presets={key: kwargs})(cls)
        if name not in EXPERIMENTS:
            add_experiment(
                compared(
                    key,
                    key,
                    f"The user's model {entry['class']} ({where}) trained on "
                    "AIO-Blur with the L1 loss, like the compared methods of Table 1",
                )
            )
        label = str(entry.get("paper_name") or key)
        USER_METHODS[name] = ComparedMethod(name, key, label, USER_MODEL_TABLES, reported=False)
        methods.append(USER_METHODS[name])
    return methods


def planned_compared(
    train: Mapping[str, Any], user_methods: Sequence[ComparedMethod]
) -> list[ComparedMethod]:
    """The compared methods the run trains and evaluates: Table 1's when
    ``train.competitors`` is true (else they stay the paper's rows only), then the user's
    models (:func:`register_user_models`)."""
    return [*(COMPARED_METHODS if train.get("competitors", False) else []), *user_methods]


def unplanned_experiments(planned: Sequence[ComparedMethod]) -> set[str]:
    """The compared methods' experiments the run does not train (``train.competitors``)."""
    return {m.experiment for m in COMPARED_METHODS} - {m.experiment for m in planned}


def untrained_experiments(
    names: Iterable[str],
    available: Collection[str],
    checkpoints: Mapping[str, str],
    train_enabled: bool,
    unplanned: Collection[str],
    replicates: Mapping[str, int],
) -> set[str]:
    """The experiments of ``names`` this run has no model of. An experiment given weights
    (``checkpoints:``) always has one; any other has none when training is off
    (``train.enabled: false``: evaluate given weights only, never train by surprise), when
    it is a compared method the run does not train (``unplanned``), when it trains on one
    dataset that is not ``available`` (an optional dataset absent), or when it starts from
    an experiment that has none."""

    def lacks(name: str) -> bool:
        if name in checkpoints:
            return False
        base, _ = replicate_index(name)
        if base in unplanned or not train_enabled:
            return True
        exp = experiment(name, replicates)
        if len(exp.datasets) == 1 and exp.datasets[0] not in available:
            return True
        return exp.init_from is not None and lacks(exp.init_from)

    return {name for name in names if lacks(name)}


def check_data_roots(data: Mapping[str, Any]) -> None:
    """ConfigError at DAG build (also with -n) when a required dataset folder is missing.

    The build rule would report it too, but only in its log file; here the message reaches
    the console and names the config key to fix. Nothing to check for the embedded
    synthetic default (``data.root`` null), which the DAG writes itself.
    """
    if data["root"] is None:
        return
    from demoe.data.build import resolve_roots

    missing = [
        f"data.roots.{name}: {path} is not a folder"
        for name, path in resolve_roots(data["root"], data["roots"]).items()
        if name not in data["optional"] and not Path(path).is_dir()
    ]
    if missing:
        raise ConfigError(
            f"datasets missing under data.root={data['root']} (fix data.root or data.roots.<name>,"
            " or list the dataset under data.optional): " + "; ".join(missing)
        )


def available_datasets(names: Iterable[str], data: Mapping[str, Any]) -> list[str]:
    """The datasets of ``names`` the run has: all of them with the synthetic default
    (``data.root`` null), else those with a root (``data.roots.<name>: null`` drops one)
    whose folder is there or that are not optional. An optional dataset that is absent
    leaves the plan entirely: no evaluation, no training on it, no table cell, no figure
    panel (the tables print "not available")."""
    if data["root"] is None:
        return list(names)
    from demoe.data.build import resolve_roots

    roots = resolve_roots(data["root"], data["roots"])
    optional = set(data.get("optional") or ())
    return [d for d in names if d in roots and (d not in optional or roots[d].is_dir())]


# --- resources -------------------------------------------------------------------------


#: Distinct training pairs of each other-task dataset as published (LOLv2-real: 689), for
#: the disk estimate of its store before its manifest exists.
OTHER_TASK_PAIRS: dict[str, int] = {"lolv2_real": 689}


def store_disk_mb(
    data: Mapping[str, Any], datasets: Mapping[str, Sequence[str]]
) -> Callable[[Any, Any], int]:
    """The ``disk_mb`` resource of rule prepare_train_store (a Snakemake resource
    function): from the image headers of its manifest once the manifest exists, else from
    the config, so a plan bills it before anything is built: the synthetic scale's counts
    and sizes, or each dataset's distinct pairs (Table 4's counts: the smaller of
    ``data.balance.reference`` and ``final``) at its nominal frame size.
    ``datasets``: manifest key → the datasets it holds."""
    from demoe.data.manifest import read_manifest
    from demoe.data.store import NOMINAL_FRAME, manifest_store_mb, store_mb

    def disk_mb(wildcards: Any, input: Any) -> int:
        manifest = Path(str(input[0]))
        if manifest.is_file():
            return manifest_store_mb(read_manifest(manifest))
        names = datasets.get(wildcards.manifest, ())
        if data.get("root") is None:
            from demoe.data.synthetic.lolv2 import LOLV2_SCALES
            from demoe.data.synthetic.writer import SCALES

            name = (data.get("synthetic") or {}).get("scale", "small")
            scale, lolv2 = SCALES[name], LOLV2_SCALES[name]
            pairs = {d: n["train"] for d, n in scale.counts.items() if d in names and "train" in n}
            frames = {**scale.sizes, "lolv2_real": lolv2["size"]}
            if "lolv2_real" in names:
                pairs["lolv2_real"] = lolv2["counts"]["train"]
            return store_mb(pairs, frames)
        balance = data.get("balance") or {}
        reference, final = balance.get("reference") or {}, balance.get("final") or {}
        pairs = {
            d: min(reference.get(d, final.get(d, 0)), final.get(d, reference.get(d, 0)))
            if d in reference or d in final
            else OTHER_TASK_PAIRS.get(d, 0)
            for d in names
            if d in NOMINAL_FRAME
        }
        return store_mb(pairs, NOMINAL_FRAME)

    return disk_mb


def gpu_request(device: str) -> int:
    """The ``gpu`` resource of a rule running its torch work on ``device`` (a config
    value): one card for a CUDA device ("cuda", "cuda:1"), none otherwise. Training asks
    for ``train.resources.gpu`` instead."""
    return 1 if str(device).split(":")[0] == "cuda" else 0


def cores_or_one(workflow: Any) -> int:
    """The ``--cores`` total, or 1 where none is set (``--report`` and ``--lint`` runs, where
    ``workflow.cores`` raises)."""
    from snakemake.exceptions import WorkflowError

    try:
        return int(workflow.cores)
    except WorkflowError:
        return 1


# --- report (report.smk, figures.smk) --------------------------------------------------


def report_tables(results: str, table_specs: Iterable[str], rules: Iterable[Any]) -> list[str]:
    """The table pages of ``snakemake --report`` (rule report_table): the results tables of
    ``table_specs``, cost, Table 4, and the claims scoreboard when one of ``rules`` writes
    ``<results>/tables/claims.md``."""
    names = [*table_specs, "cost", "table4_aioblur_distribution"]
    claims = paths.table(results, "claims", "md")
    if any(str(f) == claims for rule in rules for f in rule.output):
        names.append("claims")
    return [paths.report_table(results, name) for name in names]


def report_figure(repo: Path, results: str, name: str) -> Any:
    """A figure's PNG flagged for the report: its caption (workflow/report/<name>.rst), its
    paper section, and the caption's title as the label the report lists it by."""
    from snakemake.io import report

    from demoe.analysis.figures import figure
    from demoe.analysis.report_html import caption_title, report_category

    caption = figure(name).caption(repo)
    return report(
        paths.figure(results, name, "png"),
        caption=str(caption),
        category=report_category(name),
        subcategory="Figures",
        labels={"figure": caption_title(caption.read_text(encoding="utf-8"))},
    )


# --- training (train.smk) --------------------------------------------------------------


class TrainJobs:
    """Inputs and params of rule train_model for the ``train:`` profile of the config.

    The methods taking ``wildcards`` are Snakemake input/param functions; each job gets its
    fully resolved config as a param, so a changed value reruns only the experiments it
    reaches, while the bookkeeping keys (logging, checkpoint and validation intervals,
    workers) go through :meth:`bookkeeping`, a param Snakemake does not compare.
    ``replicates``: the run's seed replicates
    (:func:`demoe.experiments.catalogue.seed_replicates`), trained like the catalogue's
    experiments; ``skipped``: experiments not trained (the compared methods without
    ``train.competitors``, :func:`unplanned_experiments`).
    """

    def __init__(
        self,
        train: Mapping[str, Any],
        results: str,
        manifests: Mapping[str, str],
        lolv2_available: bool,
        seed_controls: Sequence[str],
        replicates: Mapping[str, int],
        skipped: Iterable[str] = (),
    ) -> None:
        self.train = train
        self.skipped = frozenset(skipped)
        self.results = results
        self.manifests = manifests
        self.lolv2_available = lolv2_available
        self.seed_controls = tuple(seed_controls)
        self.replicates = dict(replicates)

    def in_default_dag(self, name: str) -> bool:
        """Whether `rule all` trains an experiment (Fig. 8's and the control models may be
        off: no LOLv2-real data, or a dataset left out of the seed controls; the compared
        methods without ``train.competitors``)."""
        if name in self.skipped:
            return False
        exp = experiment(name, self.replicates)
        if set(exp.datasets) & set(OTHER_TASK):
            return self.lolv2_available
        return exp.seed_offset == 0 or exp.datasets[0] in self.seed_controls

    def default_models(self) -> list[str]:
        """The weights files of the experiments `rule all` trains, seed replicates included."""
        return [
            paths.model_file(self.results, n)
            for n in experiment_names(self.replicates)
            if self.in_default_dag(n)
        ]

    def init_model(self, wildcards: Any) -> list[str]:
        """The model folder an experiment starts from (stage 2, DeMoE*), if any."""
        source = experiment(wildcards.experiment, self.replicates).init_from
        if source is None:
            return []
        return [
            paths.model_file(self.results, source, f)
            for f in (paths.WEIGHTS_FILE, paths.CONFIG_FILE)
        ]

    def _resolved(self, name: str) -> TrainConfig:
        """The resolved :class:`~demoe.train.config.TrainConfig` of experiment ``name``."""
        return resolve_config(name, self.train, self.results, self.replicates)

    def store_index(self, wildcards: Any) -> list[str]:
        """The decoded store the experiment's crops come from (train.settings.data.store)."""
        config = self._resolved(wildcards.experiment)
        return [f"{config.data.store}/index.json"] if config.data.store else []

    def other_manifest(self, wildcards: Any) -> list[str]:
        """The manifests of an experiment trained outside AIO-Blur (Fig. 8: LOLv2-real)."""
        exp = experiment(wildcards.experiment, self.replicates)
        keys = {exp.manifest, exp.val_manifest} - {"train", "test"}
        return [self.manifests[k] for k in sorted(keys)]

    def settings(self, wildcards: Any) -> str:
        """The resolved config of an experiment as JSON, bookkeeping keys blanked."""
        from demoe.train.config import BOOKKEEPING_KEYS

        obj = self._resolved(wildcards.experiment).to_dict()
        for key in BOOKKEEPING_KEYS:
            section, name = key.split(".")
            obj[section][name] = None
        return json.dumps(obj)

    def bookkeeping(self, wildcards: Any, output: Any) -> str:
        """``key=value`` overrides of the bookkeeping keys, shell-quoted; taking ``output``
        keeps this param out of what Snakemake compares to decide reruns."""
        from demoe.train.config import BOOKKEEPING_KEYS

        obj = self._resolved(wildcards.experiment).to_dict()
        values = []
        for key in BOOKKEEPING_KEYS:
            section, name = key.split(".")
            values.append(f"{key}={json.dumps(obj[section][name])}")
        return shlex.join(values)

    def launcher(self) -> str:
        """``python`` for one process per job, else ``torchrun`` with one per GPU."""
        n = self.train["nproc_per_node"]
        return "python" if n == 1 else f"torchrun --standalone --nproc-per-node {n}"


# --- results tables (tables.smk) -------------------------------------------------------


class TableJobs:
    """Inputs and options of rule results_table: the evaluations a table shows, the paper's
    numbers (config/reported/), the cost table, and the protocol notes under it."""

    def __init__(
        self,
        table_specs: Mapping[str, Any],
        datasets: Sequence[str],
        eval_config: Mapping[str, Any],
        checkpoints: Mapping[str, str],
        results: str,
        reported_dir: Path,
        untrained: Iterable[str] = (),
    ) -> None:
        self.specs = table_specs
        self.untrained = sorted(untrained)
        # The compared methods and user models with rows in these tables (the run's plan).
        planned = {r.experiment for spec in table_specs.values() for r in spec.rows}
        self.compared = [
            m for m in (*COMPARED_METHODS, *USER_METHODS.values()) if m.experiment in planned
        ]
        self.datasets = list(datasets)
        self.eval = eval_config
        self.checkpoints = checkpoints
        self.results = results
        self.reported_dir = Path(reported_dir)

    def inputs(self, wildcards: Any) -> dict[str, Any]:
        """Evaluation summaries, the config.json of each model shown (its SHA-256 and the
        file given weights came from label the rows), the paper's file (if any) and the
        cost table (if used)."""
        from demoe.analysis.tables import paper_file, table_evaluations_shown, uses_cost

        spec = self.specs[wildcards.table]
        evaluations = table_evaluations_shown(spec, self.specs, self.datasets)
        inputs: dict[str, Any] = {"summaries": [str(e.path(self.results)) for e in evaluations]}
        experiments = dict.fromkeys(e.experiment for e in evaluations)
        inputs["models"] = [
            paths.model_file(self.results, name, paths.CONFIG_FILE)
            for name in experiments
            if name != BLURRY_INPUT
        ]
        reported = paper_file(self.reported_dir, spec)
        if reported.is_file():
            inputs["reported"] = str(reported)
        if uses_cost(spec):
            inputs["cost"] = paths.table(self.results, "cost")
        return inputs

    def notes(self, spec: Any) -> list[str]:
        """Protocol notes printed under a table (NIQE model, TLC window)."""
        notes = []
        if "niqe" in spec.metrics:
            notes.append(
                "NIQE fitted on the AIO-Blur training targets (rule niqe_model), not the "
                "standard pristine model."
                if self.eval["niqe_params"] is None
                else f"NIQE pristine model: {self.eval['niqe_params']}."
            )
        if any(r.tlc for r in spec.rows):
            notes.append(
                f"TLC window: 1.5 x {self.eval['tlc']['train_size']} px (the training crop)."
            )
        return notes

    def options(self, wildcards: Any, input: Any) -> str:
        """The table script's options, shell-quoted."""
        spec = self.specs[wildcards.table]
        args = ["--datasets", *self.datasets, "--tlc-experts", *self.eval["tlc"]["experts"]]
        # a Snakemake InputFiles is a list of paths: `in` tests the files, keys() the names
        named = set(input.keys())
        args += [f"--reported={input.reported}"] if "reported" in named else []
        args += [f"--cost={input.cost}"] if "cost" in named else []
        # Rows of experiments with fixed weights (config checkpoints:) name the file.
        args += [f"--fixed-weights={name}={Path(p).name}" for name, p in self.checkpoints.items()]
        # The compared methods and user models this run trains (their rows, none other).
        args += [f"--compared={compared_to_json(self.compared)}"]
        # The experiments without a model in this run (their rows are named, not shown).
        args += [f"--untrained={json.dumps(self.untrained)}"]
        for note in self.notes(spec):
            args += ["--note", note]
        return shlex.join(args)
