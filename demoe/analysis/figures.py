"""The figures of DeMoE (arXiv 2508.06228): one record per figure, the one place a figure
is declared.

A figure is three files: its script ``analysis/<name>.py``, its entry in :data:`FIGURES`
and its report caption ``workflow/report/<name>.rst``. Everything else derives from the
entries: the Snakemake rule of every figure (one loop in ``workflow/rules/figures.smk``),
the figure files of ``rule all`` and of the claims scoreboard (:func:`figure_targets`,
``FIGURE_TARGETS`` of ``workflow/rules/common.smk``), each figure's section of
``snakemake --report`` (:func:`demoe.analysis.report_html.report_category`) and the
figure lists of the tests (:func:`figure_names`).

An entry's inputs, params and condition are functions of :class:`FigureRun`, the facts of
one run (results folder, datasets present, the config's ``analysis`` section, fixed
checkpoints); its ``arguments`` are the script's command-line arguments as a Snakemake
shell template (``{input.models:q}``, ``{params.label}``, ``{output.csv:q}``), to which
the rule adds ``--pdf``, ``--png`` and the log.
"""

from __future__ import annotations

import os
import shlex
import string
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from demoe import paths
from demoe.analysis.labels import task_specific_model
from demoe.errors import ConfigError
from demoe.experiments.catalogue import SEED_CONTROL_SUFFIX, manifests

#: Folder of the report captions, under the repository root.
CAPTIONS = "workflow/report"


@dataclass(frozen=True)
class FigureRun:
    """The facts of one run that decide which figures it draws and from which files
    (``workflow/rules/common.smk`` builds it from the config).

    ``aio`` and ``ood``: the AIO-Blur and AIO-Blur-OOD datasets the manifests hold;
    ``analysis``: the config's ``analysis`` section; ``checkpoints``: fixed weights by
    experiment (config ``checkpoints:``); ``seed_controls``: the datasets whose NAFNet has
    a seed control (``analysis.similarity.seed_controls``); ``lolv2_available``: whether
    ``nafnet_lolv2_real`` can be trained (its data is there). ConfigError when
    ``analysis.fig08_other_checkpoint`` names a file that does not exist.
    """

    results: str
    aio: Sequence[str]
    ood: Sequence[str]
    analysis: Mapping[str, Any]
    checkpoints: Mapping[str, str] = field(default_factory=dict)
    seed_controls: Collection[str] = ()
    lolv2_available: bool = False
    untrained: Collection[str] = ()  # experiments the run has no model of

    def __post_init__(self) -> None:
        other = self.other_task_checkpoint
        if other and not os.path.exists(other):
            raise ConfigError(f"analysis.fig08_other_checkpoint: no checkpoint at {other}")
        check_clip_weights(self.analysis.get("clip") or {})

    @property
    def other_task_checkpoint(self) -> str | None:
        """The user's checkpoint of another task for Fig. 8, if set."""
        return self.analysis["fig08_other_checkpoint"]

    @property
    def other_task_model(self) -> str | None:
        """Fig. 8's other-task model: the user's checkpoint if set, else
        ``nafnet_lolv2_real`` when its data is there (always in the synthetic default);
        None without either (then no Fig. 8)."""
        if self.other_task_checkpoint:
            return self.other_task_checkpoint
        return self.model("nafnet_lolv2_real") if self.lolv2_available else None

    def model(self, experiment: str) -> str:
        """The weights file of an experiment of this run."""
        return paths.model_file(self.results, experiment)

    def manifest(self, key: str) -> str:
        """A manifest of this run by key (``test``, ``ood``; ``demoe.experiments.catalogue``)."""
        return manifests(self.results)[key]


def _no_params(run: FigureRun) -> dict[str, Any]:
    return {}


def _always(run: FigureRun) -> bool:
    return True


@dataclass(frozen=True)
class Figure:
    """One figure of the paper as this workflow draws it.

    ``name``: ``figNN_<what>``, the name of its script, caption and files; ``number``: the
    paper's figure number; ``section``: the paper section that holds it ("Sec. 4.3",
    "App. A"), which files it in the report; ``arguments``: the script's arguments before
    ``--pdf`` (a Snakemake shell template); ``inputs`` and ``params``: the rule's named
    inputs and params for a run; ``csv``: whether it also writes the scores behind it as
    ``<name>.csv`` (named output ``csv``); ``torch``: whether its script runs torch on
    ``analysis.device`` (the rule then asks for a GPU where that is CUDA, and every
    core); ``drawn``: whether a run draws it (Fig. 8 needs its other-task model, Fig. 14
    the OOD data).
    """

    name: str
    number: int
    section: str
    arguments: str
    inputs: Callable[[FigureRun], dict[str, Any]]
    params: Callable[[FigureRun], dict[str, Any]] = _no_params
    csv: bool = False
    torch: bool = False
    drawn: Callable[[FigureRun], bool] = _always

    @property
    def script(self) -> str:
        """The module the rule runs: ``analysis.<name>``."""
        return f"analysis.{self.name}"

    def command_arguments(self, run: FigureRun) -> str:
        """The script's arguments before ``--pdf`` for ``run``, filled in and shell-quoted
        as Snakemake fills ``{input.x:q}`` (figure rules have no wildcards, so every value
        is known when the rule is defined). The rules pass them as one param: a rule made
        in a loop cannot name its own figure in its ``shell:`` (Snakemake evaluates that
        expression when the job runs, after the loop has moved on)."""
        fields = {
            "input": self.inputs(run),
            "output": self.csv_output(run.results),
            "params": self.params(run),
        }
        return _ShellFormatter().vformat(self.arguments, (), fields)

    def csv_output(self, results: str) -> dict[str, str]:
        """The rule's named output ``csv`` where the figure writes one, else nothing."""
        return {"csv": paths.figure(results, self.name, "csv")} if self.csv else {}

    def caption(self, repo: str | os.PathLike) -> Path:
        """Its report caption, under the repository root ``repo``."""
        return Path(repo) / CAPTIONS / f"{self.name}.rst"


#: Every figure rule's shell command; ``{params.script}`` is :attr:`Figure.script`,
#: ``{params.arguments}`` :meth:`Figure.command_arguments`, ``{params.scale}`` the run's
#: scale line (:func:`demoe.experiments.scale.run_scale`).
COMMAND = (
    "python -m {params.script} {params.arguments} "
    "--pdf {output.pdf:q} --png {output.png:q} --scale {params.scale:q} > {log:q} 2>&1"
)


class _ShellFormatter(string.Formatter):
    """``str.format`` with Snakemake's shell conventions: ``{x.y}`` an attribute or key of
    a named group; a list is its items joined by spaces; ``:q`` quotes each item."""

    def get_field(self, field_name: str, args: Any, kwargs: Any) -> tuple[Any, str]:
        group, _, key = field_name.partition(".")
        return kwargs[group][key], group

    def format_field(self, value: Any, format_spec: str) -> str:
        items = value if isinstance(value, list | tuple) else [value]
        if format_spec == "q":
            return " ".join(shlex.quote(str(item)) for item in items)
        if format_spec:
            raise ValueError(f"unsupported format spec {format_spec!r} in a figure command")
        return " ".join(str(item) for item in items)


# --- what the entries read from a run --------------------------------------------------------


def _similarity(**keys: str) -> Callable[[FigureRun], dict[str, Any]]:
    """Params from the config's ``analysis.similarity``, by param name: its key there."""
    return lambda run: {name: run.analysis["similarity"][key] for name, key in keys.items()}


#: Interval settings of the similarity figures' whiskers (``analysis.intervals``).
_INTERVAL_ARGUMENTS = (
    " --confidence {params.confidence:q} --resamples {params.resamples:q} "
    "--interval-seed {params.interval_seed:q}"
)


def _with_intervals(
    params: Callable[[FigureRun], dict[str, Any]],
) -> Callable[[FigureRun], dict[str, Any]]:
    """``params`` plus the interval settings of the config (absent keys: the defaults)."""

    def both(run: FigureRun) -> dict[str, Any]:
        # imported here: scipy.stats costs every job that reads the registry 0.6 s
        from demoe.analysis.intervals import IntervalSettings

        settings = IntervalSettings.from_config({"analysis": run.analysis})
        interval = {"confidence": settings.confidence, "resamples": settings.resamples}
        return {**params(run), **interval, "interval_seed": settings.seed}

    return both


def _nafnets(run: FigureRun) -> list[str]:
    """The per-dataset NAFNets of the similarity study (Sec. 3.1)."""
    return [run.model(f"nafnet_{d}") for d in run.aio]


def _study_inputs(run: FigureRun) -> dict[str, Any]:
    """The per-dataset NAFNets, their seed controls (the same training from another seed)
    and the training config beside each model (its initial weights are rebuilt from it)."""
    return {
        "models": _nafnets(run),
        "controls": [
            run.model(f"nafnet_{d}{SEED_CONTROL_SUFFIX}") for d in run.aio if d in run.seed_controls
        ],
        "configs": [
            paths.model_file(run.results, f"nafnet_{d}", paths.RESOLVED_CONFIG_FILE)
            for d in run.aio
        ],
    }


def _demoe_config(run: FigureRun) -> str:
    """DeMoE's config.json: the router figures name given weights (and their SHA-256)."""
    return paths.model_file(run.results, "demoe", paths.CONFIG_FILE)


def _router_evals(run: FigureRun, datasets: Sequence[str]) -> list[str]:
    """DeMoE's per-image evaluations with the router on ``datasets``."""
    return [paths.eval_file(run.results, "demoe", d, "auto", ".csv") for d in datasets]


def check_clip_weights(clip: Mapping[str, Any]) -> None:
    """Fig. 4's CLIP weights, checked when the DAG is built (a dry run fails, not the GPU
    job): ConfigError naming ``analysis.clip.pretrained``, the opt-out and where the file
    comes from, unless the file is there or ``analysis.clip.allow_random`` is true."""
    pretrained = clip.get("pretrained")
    if pretrained and os.path.isfile(pretrained):
        return
    if not pretrained and clip.get("allow_random"):
        return
    where = f"no file at {pretrained}" if pretrained else "not set"
    raise ConfigError(
        f"analysis.clip.pretrained: {where}; Fig. 4 needs the local open_clip weights of "
        f"{clip.get('model')!r} (a release file of open_clip's pretrained tags, e.g. the "
        "laion2b or openai weights of that model, fetched on a machine with a network), or "
        "analysis.clip.allow_random: true to draw it with a randomly initialised CLIP "
        "(labelled as such)"
    )


def clip_options(clip: Mapping[str, Any]) -> str:
    """CLIP model and weights of Fig. 4 (``analysis.clip``), shell-quoted; the script
    refuses missing weights unless ``analysis.clip.allow_random`` is true."""
    args = ["--clip-model", clip["model"], "--batch-size", str(clip["batch_size"])]
    if clip["pretrained"]:
        args += ["--clip-pretrained", clip["pretrained"]]
    if clip["allow_random"]:
        args.append("--allow-random")
    return shlex.join(args)


def _tsne_options(run: FigureRun) -> str:
    tsne = run.analysis["tsne"]
    return (
        f"--max-per-dataset {tsne['max_images_per_dataset']} "
        f"--perplexity {tsne['perplexity']} --seed {tsne['seed']}"
    )


def _qualitative(
    name: str,
    number: int,
    section: str,
    manifest: str,
    datasets: Callable[[FigureRun], Sequence[str]],
    **more: Any,
) -> Figure:
    """Figs. 5 and 14: one test image of each of ``datasets`` (from the manifest key
    ``manifest``) restored by DeMoE and by the task-specific NAFNet of its dataset."""

    def inputs(run: FigureRun) -> dict[str, Any]:
        return {
            "manifest": run.manifest(manifest),
            "demoe": run.model("demoe"),
            "task_specific": sorted({run.model(task_specific_model(d)) for d in datasets(run)}),
        }

    def params(run: FigureRun) -> dict[str, Any]:
        qualitative = run.analysis["qualitative"]
        options = ["--crop", str(qualitative["crop"]), "--index", str(qualitative["index"])]
        return {
            "datasets": list(datasets(run)),
            "options": shlex.join([*options, "--device", run.analysis["device"]]),
        }

    return Figure(
        name=name,
        number=number,
        section=section,
        arguments="--manifest {input.manifest:q} --datasets {params.datasets:q} "
        "--demoe {input.demoe:q} --task-specific {input.task_specific:q} {params.options}",
        inputs=inputs,
        params=params,
        torch=True,
        **more,
    )


_STUDY_ARGUMENTS = "--models {input.models:q} --seed-controls {input.controls:q} --init-control"

# --- the figures, in the paper's order -------------------------------------------------------

#: Every figure, in the paper's order; :func:`register` adds one.
FIGURES: list[Figure] = [
    Figure(
        name="fig02_layer_correlation",
        number=2,
        section="Sec. 3.1",
        arguments=f"{_STUDY_ARGUMENTS} --params {{params.params:q}} "
        "--threshold {params.threshold:q}",
        inputs=_study_inputs,
        params=_similarity(params="params", threshold="threshold"),
    ),
    Figure(
        name="fig04_dataset_tsne",
        number=4,
        section="Sec. 4",
        arguments="--manifests {input.manifests:q} --datasets {params.datasets:q} "
        "{params.clip} {params.tsne} --device {params.device:q} --csv {output.csv:q}",
        inputs=lambda run: {"manifests": [run.manifest("test"), run.manifest("ood")]},
        params=lambda run: {
            "datasets": [*run.aio, *run.ood],
            "clip": clip_options(run.analysis["clip"]),
            "tsne": _tsne_options(run),
            "device": run.analysis["device"],
        },
        csv=True,
        torch=True,
    ),
    _qualitative("fig05_qualitative", 5, "Sec. 4.3", "test", lambda run: run.aio),
    Figure(  # the left panel; the right one is a table (table_fig06_training_strategy)
        name="fig06_cost",
        number=6,
        section="Sec. 5",
        arguments="--cost {input.cost:q}",
        inputs=lambda run: {"cost": paths.table(run.results, "cost", "csv")},
    ),
    Figure(
        name="fig07_layer_type_correlation",
        number=7,
        section="App. A",
        arguments=f"{_STUDY_ARGUMENTS} --csv {{output.csv:q}} --params {{params.params:q}}"
        + _INTERVAL_ARGUMENTS,
        inputs=_study_inputs,
        params=_with_intervals(_similarity(params="params")),
        csv=True,
    ),
    Figure(
        name="fig08_other_task_correlation",
        number=8,
        section="App. A",
        arguments="--models {input.models:q} --other {input.other:q} {params.label} "
        "--params {params.params:q} --threshold {params.threshold:q} --csv {output.csv:q}"
        + _INTERVAL_ARGUMENTS,
        inputs=lambda run: {"models": _nafnets(run), "other": run.other_task_model},
        params=_with_intervals(
            lambda run: {
                **_similarity(params="params", threshold="threshold")(run),
                "label": ""
                if run.other_task_checkpoint
                else "--other-label 'LOLv2-real (low-light enhancement)'",
            }
        ),
        csv=True,
        drawn=lambda run: run.other_task_model is not None,
    ),
    Figure(
        name="fig09_cka",
        number=9,
        section="App. A",
        arguments="--models {input.models:q} --params {params.params:q} "
        "--seed-controls {input.controls:q} --init-control --csv {output.csv:q} "
        "--sigma-factor {params.sigma:q}" + _INTERVAL_ARGUMENTS,
        inputs=_study_inputs,
        params=_with_intervals(_similarity(params="params", sigma="cka_sigma_factor")),
        csv=True,
    ),
    Figure(
        name="fig10_lolblur_mse",
        number=10,
        section="App. B",
        arguments="--report {input.report:q} --mse {input.mse:q}",
        # written by rule build_aioblur with the manifests
        inputs=lambda run: {
            "report": paths.build_report(run.results),
            "mse": paths.mse_pairs(run.results),
        },
        drawn=lambda run: "lolblur" in run.aio,  # LOLBlur's MSE-bin subsampling
    ),
    Figure(
        name="fig11_expert_correlation",
        number=11,
        section="App. D",
        arguments="--model {input.model:q} --csv {output.csv:q} --params {params.params:q}"
        + _INTERVAL_ARGUMENTS,
        inputs=lambda run: {"model": run.model("demoe")},
        params=_with_intervals(_similarity(params="params")),
        csv=True,
    ),
    Figure(
        name="fig12_router_output",
        number=12,
        section="App. E",
        arguments="--csv {input.csv:q} --model {input.model:q}",
        inputs=lambda run: {
            "csv": _router_evals(run, [*run.aio, *run.ood]),
            "model": _demoe_config(run),
        },
    ),
    Figure(  # ours: the routing errors behind App. E, beside the paper's Fig. 12
        name="fig12_router_confusion",
        number=12,
        section="App. E",
        arguments="--csv {input.csv:q} --model {input.model:q}",
        inputs=lambda run: {"csv": _router_evals(run, run.aio), "model": _demoe_config(run)},
    ),
    Figure(
        name="fig13_encoder_tsne",
        number=13,
        section="App. F",
        arguments="--manifest {input.manifest:q} --datasets {params.datasets:q} "
        "--no-class {input.no_class:q} --class-loss {input.class_loss:q} "
        "--original-arch {input.original_arch:q} {params.tsne} --device {params.device:q} "
        "--csv {output.csv:q}",
        inputs=lambda run: {
            "manifest": run.manifest("test"),
            "no_class": run.model("baseline_aio_noclass"),
            "class_loss": run.model("baseline_aio"),
            "original_arch": run.model("baseline_original_arch"),
        },
        params=lambda run: {
            "datasets": list(run.aio),
            "tsne": _tsne_options(run),
            "device": run.analysis["device"],
        },
        csv=True,
        torch=True,
    ),
    _qualitative(
        "fig14_qualitative_ood",
        14,
        "App. G",
        "ood",
        lambda run: run.ood,
        drawn=lambda run: bool(run.ood),
    ),
]


def register(figure: Figure) -> Figure:
    """Add ``figure`` to :data:`FIGURES` (last); ValueError if its name is taken."""
    if figure.name in figure_names():
        raise ValueError(f"{figure.name}: already a figure of demoe.analysis.figures")
    FIGURES.append(figure)
    return figure


def unregister(name: str) -> None:
    """Remove the figure ``name`` from :data:`FIGURES`; ValueError if there is none."""
    FIGURES.remove(figure(name))


def figure(name: str) -> Figure:
    """The figure ``name``; ValueError if there is none."""
    for entry in FIGURES:
        if entry.name == name:
            return entry
    raise ValueError(f"{name}: not a figure of demoe.analysis.figures")


def figure_names() -> list[str]:
    """The name of every figure, in order."""
    return [f.name for f in FIGURES]


def drawn_figures(run: FigureRun) -> list[Figure]:
    """The figures ``run`` draws, in order: those it can (:attr:`Figure.drawn`) whose models
    all exist in the run (none of ``run.untrained``: training off without given weights, an
    optional dataset absent)."""
    missing = {paths.model_file(run.results, name) for name in run.untrained}
    return [f for f in FIGURES if f.drawn(run) and not missing & set(_files(f.inputs(run)))]


def _files(inputs: Mapping[str, Any]) -> list[str]:
    """Every path of a figure's named inputs (a path or a list of paths each)."""
    return [p for v in inputs.values() for p in ([v] if isinstance(v, str) else v)]


def figure_targets(run: FigureRun) -> list[str]:
    """Every file of the figures ``run`` draws: PDF and PNG of each, then the CSVs."""
    drawn = drawn_figures(run)
    return [paths.figure(run.results, f.name, ext) for f in drawn for ext in ("pdf", "png")] + [
        path for f in drawn for path in f.csv_output(run.results).values()
    ]
