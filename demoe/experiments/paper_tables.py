"""What gets evaluated, and for which table: the single source of truth.

Every results table of the paper (Tables 1, 2, 3, 5, 6, 7, 8, 9 and the training-strategy
comparison of Fig. 6, right) is a :class:`TableSpec`: rows (a trained experiment, the
expert mode and the TLC variant) × datasets × metrics (which paper row each of those
models reproduces: :mod:`demoe.experiments.paper_rows`). :func:`needed_evaluations` lists
every ``demoe eval`` run the tables need, repeated for each seed replicate of the
experiment (:func:`replicate_evaluations`); the Snakemake rules (``workflow/rules/eval.smk``,
``tables.smk``) and the table scripts (``analysis/table*.py``) both derive from it.

Evaluation files: ``<results>/eval/{experiment}/{dataset}/{run}.csv`` (per image) and
``.json`` (summary), ``run`` being the expert mode (``auto`` = router, or a task name
from :data:`demoe.tasks.TASKS`) optionally followed by ``_tlc-{scope}``, scope ``all``
or task names joined by ``+`` (TLC on those experts only, Table 6).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from demoe import paths
from demoe.errors import ConfigError
from demoe.experiments.catalogue import (
    TRAINING_STRATEGIES,
    experiment_names,
    replicate_names,
    table7_experiment,
)
from demoe.experiments.paper_rows import (
    AUTO,
    MATCHING,
    PARTIAL_TLC,
    REPRODUCES,
    STAR_PREFIX,
    TLC_ALL,
    ComparedMethod,
    Source,
    compared_rows,
)
from demoe.models.experts import EXPERT_BLOCKS, TABLE7_EXPERT_BLOCKS
from demoe.tasks import AIO_BLUR, AIO_BLUR_OOD, BENCHMARK, DATASETS, TASKS, resolve_task

TLC_SEP = "+"
#: Experiments trained per dataset: the Sec. 3.1 NAFNets (Table 3 DeMoE*: STAR_PREFIX).
NAFNET_PREFIX = "nafnet_"
#: The reference row of Tables 1, 2, 3, 8 and 9 (ours, not the paper's): the
#: degraded input scored against the ground truth as it is, through the same protocol
#: (8-bit rounding, RealBlur alignment where configured). No model is trained for it.
BLURRY_INPUT = "blurry_input"
BLURRY_INPUT_ROW = "Blurry input (no restoration)"
#: Fig. 6 (right) strategies (keys of ``demoe.experiments.catalogue.TRAINING_STRATEGIES``).
FIG6_LABELS: dict[str, str] = {
    "scratch": "From scratch, end-to-end",
    "router_noise": "Noise in the router",
    "finetune_all": "Fine-tune everything",
    "finetune_moe_decoder": "Fine-tune the MoE decoder (DeMoE)",
}
#: Table 5 architecture ablations: experiment → label.
TABLE5_ABLATIONS: dict[str, str] = {
    "demoe": "DeMoE (MoE output replaces the feature)",
    "ablation_residual": "Addition residual (Eq. 7)",
    "ablation_attention": "Attention connection (Eq. 8)",
    "ablation_width64": "Width 64",
    "ablation_middle12": "More middle blocks (12)",
    "ablation_moe_blocks": "More MoE blocks (2 per stage)",
}
#: Table 7 expert blocks: block → row label.
_RUN_RE = re.compile(r"^(?P<expert>[a-z_]+?)(?:_tlc-(?P<scope>[a-z_+]+))?$")


@dataclass(frozen=True)
class Row:
    """One row of a table: a trained experiment evaluated in one expert mode."""

    label: str  # method as printed
    experiment: str  # results/models/{experiment}/
    expert: str = AUTO  # "auto", a task name, or MATCHING
    tlc: str | None = None  # None, "all" or tasks joined by "+"
    datasets: tuple[str, ...] | None = None  # None: all of the table's datasets
    reported_as: str | None = None  # the paper row it reproduces (set from paper_rows)
    cost_model: str | None = None  # model name in results/tables/cost.csv (Table 1)


@dataclass(frozen=True)
class TableSpec:
    """A results table: rows × datasets × metrics (metrics a dataset lacks are skipped)."""

    name: str  # file stem under results/tables/ and config/reported/
    number: str  # paper table number, e.g. "1"; "Fig. 6" for the figure's table
    title: str
    datasets: tuple[str, ...]
    metrics: tuple[str, ...]
    rows: tuple[Row, ...]
    average: bool = True  # mean over the datasets per metric
    cost: bool = False  # Table 1: computational-cost columns
    not_in_run: tuple[str, ...] = ()  # labels of rows whose model this run has not

    def row_datasets(self, row: Row) -> tuple[str, ...]:
        return row.datasets if row.datasets is not None else self.datasets


@dataclass(frozen=True)
class Evaluation:
    """One ``demoe eval`` run."""

    experiment: str
    dataset: str
    expert: str  # "auto" or a task name
    tlc: str | None = None

    @property
    def run(self) -> str:
        return run_name(self.expert, self.tlc)

    def path(self, results: str | Path, suffix: str = ".json") -> Path:
        return Path(paths.eval_file(results, self.experiment, self.dataset, self.run, suffix))


def run_name(expert: str, tlc: str | None = None) -> str:
    """File stem of an evaluation: ``{expert}`` or ``{expert}_tlc-{scope}``."""
    return expert if tlc is None else f"{expert}_tlc-{tlc}"


def parse_run(run: str) -> tuple[str, str | None]:
    """Inverse of :func:`run_name`, validating expert and TLC scope; ConfigError otherwise."""
    match = _RUN_RE.match(run)
    if match is None:
        raise ConfigError(f"bad evaluation name {run!r}: expected <expert>[_tlc-<scope>]")
    expert, scope = match["expert"], match["scope"]
    if expert != AUTO and expert not in TASKS:
        raise ConfigError(f"bad expert {expert!r} in {run!r}; valid: auto, {', '.join(TASKS)}")
    if scope is not None:
        tlc_experts(scope)
    return expert, scope


def tlc_scope(experts: Iterable[str] | None) -> str:
    """Scope for TLC on ``experts`` (None: everywhere) as used in file names."""
    return TLC_ALL if experts is None else TLC_SEP.join(resolve_task(t) for t in experts)


def tlc_experts(scope: str) -> list[str] | None:
    """Experts of a TLC scope (None = every block), validated."""
    if scope == TLC_ALL:
        return None
    return [resolve_task(t) for t in scope.split(TLC_SEP)]


def tlc_cli_value(scope: str) -> str:
    """The ``demoe eval --tlc`` value of a scope: ``all`` or comma-separated tasks."""
    experts = tlc_experts(scope)
    return TLC_ALL if experts is None else ",".join(experts)


def resolve_expert(expert: str, dataset: str) -> str:
    """The expert mode of a row on ``dataset`` (MATCHING → the dataset's task)."""
    if expert != MATCHING:
        return expert
    task = DATASETS[dataset].task
    if task is None:
        raise ConfigError(f"dataset {dataset} has no task: no matching expert")
    return task


def table_specs(
    chosen_experts: Iterable[str] = ("synth_global_motion",),
    fixed_weights: Mapping[str, str] | None = None,
    compared: Iterable[ComparedMethod] = (),
    untrained: Collection[str] = (),
) -> dict[str, TableSpec]:
    """Every results table; ``chosen_experts``: the "TLC on chosen experts" row of Table 6.

    ``fixed_weights`` (experiment → checkpoint file name, config ``checkpoints:``) labels
    the rows of experiments evaluated with given weights instead of trained ones.
    ``compared``: the compared methods and user models the run trains and evaluates (their
    rows; default none, as the embedded default, which trains none of
    :data:`~demoe.experiments.paper_rows.COMPARED_METHODS`); the others stay the paper's
    rows only. ``untrained``: experiments this run has no model of (``train.enabled:
    false`` without given weights, a dataset left out as optional): their rows leave the
    plan and the table names them (:attr:`TableSpec.not_in_run`).
    """
    chosen = tlc_scope(chosen_experts)
    methods = tuple(compared)
    specs = (
        _table1(methods),
        _table2(methods),
        _table3(),
        _ablation_table(
            "table5_ablations", "5", "Architecture ablations on AIO-Blur", TABLE5_ABLATIONS
        ),
        _table6(chosen),
        _table8(methods),
        _table9(methods),
        _ablation_table(
            "table_fig06_training_strategy",
            "Fig. 6",
            "Training strategies (Fig. 6, right) on AIO-Blur",
            {TRAINING_STRATEGIES[k]: label for k, label in FIG6_LABELS.items()},
        ),
        _table7(),
    )
    return {
        s.name: with_weights_labels(
            with_paper_rows(without_rows(s, untrained)), fixed_weights or {}
        )
        for s in specs
    }


def without_rows(spec: TableSpec, untrained: Collection[str]) -> TableSpec:
    """``spec`` without the rows of ``untrained`` experiments (a per-dataset row, e.g.
    ``demoe_star_{dataset}``, when none of its datasets' experiments is trained), their
    labels kept in :attr:`TableSpec.not_in_run`."""

    def absent(row: Row) -> bool:
        names = {row.experiment.format(dataset=d) for d in spec.row_datasets(row)}
        return bool(names) and names <= set(untrained)

    dropped = [r for r in spec.rows if absent(r)]
    if not dropped:
        return spec
    kept = tuple(r for r in spec.rows if not absent(r))
    return replace(spec, rows=kept, not_in_run=tuple(r.label for r in dropped))


def with_paper_rows(spec: TableSpec) -> TableSpec:
    """``spec`` with each row's ``reported_as``: the paper row of
    :data:`~demoe.experiments.paper_rows.REPRODUCES` whose model is evaluated on every
    evaluation of the row (None where there is none)."""
    paper = {
        label: set(source_evaluations(source, spec))
        for label, source in REPRODUCES.get(spec.name, {}).items()
    }

    def reported_as(row: Row) -> str | None:
        evals = set(row_evaluations(spec, row))
        return next((label for label, e in paper.items() if evals and evals <= e), None)

    return replace(spec, rows=tuple(replace(r, reported_as=reported_as(r)) for r in spec.rows))


def weights_label(label: str, file_name: str) -> str:
    """A row label with the name of the checkpoint file its weights come from."""
    return f"{label} [weights: {file_name}]"


def with_weights_labels(spec: TableSpec, fixed_weights: Mapping[str, str]) -> TableSpec:
    """``spec`` with the rows of fixed-weight experiments labelled by their file name."""
    rows = tuple(
        replace(r, label=weights_label(r.label, fixed_weights[r.experiment]))
        if r.experiment in fixed_weights
        else r
        for r in spec.rows
    )
    return replace(spec, rows=rows)


Methods = tuple[ComparedMethod, ...] | None


def _compared(table: str, methods: Methods) -> tuple[Row, ...]:
    """Our rows of the compared methods trained here that ``table`` lists (``methods``:
    the run's, default :data:`~demoe.experiments.paper_rows.COMPARED_METHODS`)."""
    return tuple(
        Row(f"{m.paper_name} (trained on AIO-Blur)", m.experiment, cost_model=m.preset)
        for m in compared_rows(table, methods)
    )


def _table1(methods: Methods = None) -> TableSpec:
    """Table 1: all-in-one deblurring on the five AIO-Blur test sets, with cost."""
    rows = (
        Row("NAFNet (original arch.)", "baseline_original_arch", cost_model="nafnet_original_arch"),
        Row("NAFNet baseline (k=1 network)", "baseline_aio", cost_model="nafnet"),
        Row("NAFNet baseline, no classifier", "baseline_aio_noclass", cost_model="nafnet"),
        Row("DeMoE (k=1)", "demoe", cost_model="demoe"),
        *_compared("table1_aio_deblurring", methods),
        Row(BLURRY_INPUT_ROW, BLURRY_INPUT),
    )
    return TableSpec(
        "table1_aio_deblurring",
        "1",
        "All-in-one deblurring on the AIO-Blur test sets",
        AIO_BLUR,
        ("psnr", "ssim", "lpips"),
        rows,
        cost=True,
    )


def _table2(methods: Methods = None) -> TableSpec:
    """Table 2: OOD sets, DeMoE with the router vs. each expert chosen by hand."""
    rows = (Row("DeMoE (router)", "demoe"),) + tuple(
        Row(f"DeMoE (expert: {t})", "demoe", expert=t) for t in TASKS
    )
    rows += (*_compared("table2_ood", methods), Row(BLURRY_INPUT_ROW, BLURRY_INPUT))
    return TableSpec(
        "table2_ood",
        "2",
        "Out-of-distribution sets: router vs. manual expert selection",
        AIO_BLUR_OOD,
        ("psnr", "ssim", "lpips", "niqe", "musiq", "nrqm"),
        rows,
        average=False,
    )


def _table3() -> TableSpec:
    """Table 3: DeMoE vs. DeMoE* (fine-tuned per dataset) and per-dataset NAFNets."""
    rows = tuple(
        Row(f"NAFNet ({DATASETS[d].display} only)", f"{NAFNET_PREFIX}{d}", datasets=(d,))
        for d in AIO_BLUR
    )
    rows += (Row("DeMoE (k=1)", "demoe"),)
    rows += tuple(
        # DeMoE* fine-tunes the dataset's own expert, selected by hand (Table 3), so it is
        # evaluated with that expert, not the router.
        Row(f"DeMoE* ({DATASETS[d].display})", f"{STAR_PREFIX}{d}", expert=MATCHING, datasets=(d,))
        for d in AIO_BLUR
    )
    rows += (Row(BLURRY_INPUT_ROW, BLURRY_INPUT),)
    return TableSpec(
        "table3_task_specific",
        "3",
        "Task-specific comparison: DeMoE vs. DeMoE* (per-dataset fine-tuning)",
        AIO_BLUR,
        ("psnr", "ssim", "lpips"),
        rows,
        average=False,
    )


#: The cost.csv model (a preset of demoe.models.registry) of each Table 5 ablation.
ABLATION_COST_MODELS: dict[str, str] = {
    "ablation_width64": "demoe_width64",
    "ablation_middle12": "demoe_middle12",
    "ablation_moe_blocks": "demoe_moe_blocks2",
}


def _ablation_table(name: str, number: str, title: str, labels: Mapping[str, str]) -> TableSpec:
    """Table 5 and Fig. 6 (right): one row per ablation experiment, AIO-Blur, router."""
    rows = tuple(
        Row(label, experiment, cost_model=ABLATION_COST_MODELS.get(experiment))
        for experiment, label in labels.items()
    )
    return TableSpec(name, number, title, AIO_BLUR, ("psnr", "ssim"), rows)


def _table6(chosen: str) -> TableSpec:
    """Table 6: TLC off, on every block, on the chosen experts only (and the NAFNet
    baseline with TLC on every block)."""
    rows = (
        Row("NAFNet, TLC everywhere", "baseline_aio", tlc=TLC_ALL),
        Row("DeMoE, no TLC", "demoe"),
        Row("DeMoE, TLC everywhere", "demoe", tlc=TLC_ALL),
        Row(f"DeMoE, TLC on {chosen.replace(TLC_SEP, ', ')}", "demoe", tlc=chosen),
    )
    return TableSpec(
        "table6_tlc", "6", "Test-time local converter (TLC)", AIO_BLUR, ("psnr", "ssim"), rows
    )


def _table8(methods: Methods = None) -> TableSpec:
    """Table 8: RealDOF and RSBlur, all-in-one baselines and task-specific models."""
    rows = (
        Row("NAFNet (original arch.)", "baseline_original_arch"),
        Row("NAFNet baseline (k=1 network)", "baseline_aio"),
        Row("NAFNet (DPDD only)", f"{NAFNET_PREFIX}dpdd", datasets=("realdof",)),
        Row("NAFNet (RealBlur-J only)", f"{NAFNET_PREFIX}realblur_j", datasets=("rsblur",)),
        Row("DeMoE (router)", "demoe"),
        Row("DeMoE (matching expert)", "demoe", expert=MATCHING),
        *_compared("table8_ood_extended", methods),
        Row(BLURRY_INPUT_ROW, BLURRY_INPUT),
    )
    return TableSpec(
        "table8_ood_extended",
        "8",
        "Extended out-of-distribution results on RealDOF and RSBlur",
        ("realdof", "rsblur"),
        ("psnr", "ssim", "lpips"),
        rows,
        average=False,
    )


def _table9(methods: Methods = None) -> TableSpec:
    """Table 9: Real-LOLBlur, no-reference metrics."""
    rows = (
        Row("NAFNet (original arch.)", "baseline_original_arch"),
        Row("NAFNet baseline (k=1 network)", "baseline_aio"),
        Row("NAFNet (LOLBlur only)", f"{NAFNET_PREFIX}lolblur"),
        Row("DeMoE (router)", "demoe"),
        Row("DeMoE (expert: low_light)", "demoe", expert="low_light"),
        *_compared("table9_real_lolblur", methods),
        Row(BLURRY_INPUT_ROW, BLURRY_INPUT),
    )
    return TableSpec(
        "table9_real_lolblur",
        "9",
        "Real-LOLBlur (no reference): NIQE, MUSIQ, NRQM",
        ("real_lolblur",),
        ("niqe", "musiq", "nrqm"),
        rows,
        average=False,
    )


def _table7() -> TableSpec:
    """Table 7 (App. F): DeMoE with other expert blocks, AIO-Blur, router, with cost."""
    rows = tuple(
        Row(
            f"{EXPERT_BLOCKS[block].display_name} experts",
            table7_experiment(block),
            cost_model=f"demoe_{block}",
        )
        for block in TABLE7_EXPERT_BLOCKS
    )
    rows += (Row("DeMoE (NAFBlock experts)", "demoe", cost_model="demoe"),)
    return TableSpec(
        "table7_expert_blocks",
        "7",
        "Expert blocks of the MoE decoder on AIO-Blur",
        AIO_BLUR,
        ("psnr", "ssim", "lpips"),
        rows,
        cost=True,
    )


def row_evaluations(spec: TableSpec, row: Row) -> list[Evaluation]:
    """The evaluations behind one row, one per dataset."""
    return [
        Evaluation(row.experiment, d, resolve_expert(row.expert, d), row.tlc)
        for d in spec.row_datasets(row)
    ]


def source_evaluations(source: Source, spec: TableSpec) -> list[Evaluation]:
    """The evaluations of one of our models (:class:`~demoe.experiments.paper_rows.Source`)
    on the table's datasets (none if its partial TLC scope is not in the table's plan)."""
    tlc = source.tlc
    if tlc == PARTIAL_TLC:
        scopes = [
            r.tlc
            for r in spec.rows
            if r.experiment == source.experiment and r.tlc not in (None, TLC_ALL)
        ]
        if not scopes:
            return []
        tlc = scopes[0]
    return [
        Evaluation(source.experiment.format(dataset=d), d, resolve_expert(source.expert, d), tlc)
        for d in (source.datasets or spec.datasets)
        if d in spec.datasets
    ]


def table_evaluations(spec: TableSpec, datasets: Iterable[str] | None = None) -> list[Evaluation]:
    """The evaluations one table reads (deduplicated; ``datasets``: those present)."""
    keep = set(DATASETS if datasets is None else datasets)
    evals = [e for r in spec.rows for e in row_evaluations(spec, r)]
    return [e for e in dict.fromkeys(evals) if e.dataset in keep]


def replicate_evaluations(
    evaluation: Evaluation, replicates: Mapping[str, int] | None
) -> list[Evaluation]:
    """``evaluation`` for each seed replicate of its experiment, in seed order, itself first
    (``replicates``: :func:`demoe.experiments.catalogue.seed_replicates`): the same
    dataset, expert and TLC, under ``<results>/eval/<experiment>_rep<k>/``."""
    return [
        replace(evaluation, experiment=name)
        for name in replicate_names(evaluation.experiment, replicates)
    ]


def needed_evaluations(
    specs: Iterable[TableSpec],
    datasets: Iterable[str] | None = None,
    replicates: Mapping[str, int] | None = None,
) -> list[Evaluation]:
    """Every evaluation the tables and router figures need (deduplicated, in table order),
    each followed by its seed replicates' (:func:`replicate_evaluations`).

    Always included, for the router figures (Fig. 12, confusion matrices): ``demoe``
    with the router on every dataset, and with each expert on every OOD set (Table 2).
    """
    keep = set(DATASETS if datasets is None else datasets)
    evals = [e for s in specs for e in table_evaluations(s, keep)]
    evals += [Evaluation("demoe", d, AUTO) for d in BENCHMARK]
    evals += [Evaluation("demoe", d, t) for d in AIO_BLUR_OOD for t in TASKS]
    kept = [e for e in dict.fromkeys(evals) if e.dataset in keep]
    return [r for e in kept for r in replicate_evaluations(e, replicates)]


def check_experiments(
    evaluations: Iterable[Evaluation], replicates: Mapping[str, int] | None = None
) -> None:
    """ConfigError naming evaluated experiments that ``demoe.experiments.catalogue`` lacks,
    with the seed replicates of ``replicates`` (:data:`BLURRY_INPUT` needs no training)."""
    known = set(experiment_names(replicates)) | {BLURRY_INPUT}
    missing = sorted({e.experiment for e in evaluations} - known)
    if missing:
        raise ConfigError(
            f"the evaluation plan uses experiments not in demoe.experiments.catalogue: {missing}"
        )


def eval_metrics(dataset: str, cfg: Mapping[str, Any]) -> list[str]:
    """Metrics computed on ``dataset``: no-reference ones on unpaired sets (config ``eval``)."""
    key = "no_reference_metrics" if dataset in cfg["unpaired"] else "metrics"
    return list(cfg[key])
