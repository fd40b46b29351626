"""Evaluation jobs: every evaluation of one experiment in one ``demoe eval-plan`` call.

The evaluations come from :func:`demoe.experiments.paper_tables.needed_evaluations` (the single source of
truth for what the paper's Tables 1-3, 5-9, Fig. 6 right and the router figures read, and
the same evaluations of each seed replicate); :func:`eval_jobs` groups them by experiment
(a seed replicate ``<experiment>_rep<k>`` is one: ``evaluate_demoe_rep1``), and
``workflow/rules/eval.smk`` makes one Snakemake rule per :class:`EvalJob`, whose outputs
are exactly that experiment's ``<results>/eval/{experiment}/{dataset}/{run}.{csv,json}``.
One process per experiment loads torch and the model once instead of once per evaluation,
and a changed model reruns only its own job.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from demoe import paths
from demoe.eval.registry import get_metric, weight_flag, weight_keys
from demoe.experiments.paper_tables import BLURRY_INPUT, Evaluation, eval_metrics, tlc_cli_value
from demoe.tasks import AIO_BLUR_OOD

#: Per-evaluation wall-time budget of a job (minutes; the `runtime` resource that cluster
#: executors such as profiles/slurm turn into a time limit), and the least a job asks for
#: (the SLURM profile's default). Override one job with
#: ``--set-resources evaluate_<experiment>:runtime=<minutes>``.
RUNTIME_PER_EVALUATION_MIN = 30
MIN_RUNTIME_MIN = 120
#: NIQE's pristine model is passed apart from the other metric weight files (which go as the
#: config names them, demoe.eval.registry.weight_keys): the workflow resolves it (the
#: config's file or the model rule niqe_model fits), and only evaluations scoring NIQE read it.
(NIQE_KEY,) = get_metric("niqe").weight_keys


def eval_manifest(dataset: str, manifests: Mapping[str, str]) -> str:
    """The manifest holding ``dataset``'s test records: the OOD one or the AIO-Blur test one
    (``manifests``: :func:`demoe.experiments.catalogue.manifests`)."""
    return manifests["ood" if dataset in AIO_BLUR_OOD else "test"]


def needs_niqe(dataset: str, eval_cfg: Mapping[str, Any]) -> bool:
    """Whether ``dataset`` is scored with NIQE (its evaluation then reads the NIQE model)."""
    return "niqe" in eval_metrics(dataset, eval_cfg)


def eval_arguments(
    evaluation: Evaluation,
    results: str,
    manifests: Mapping[str, str],
    eval_cfg: Mapping[str, Any],
    niqe_params: str,
) -> list[str]:
    """The ``demoe eval`` arguments of one evaluation, without ``--model``/``--blurry-input``
    and ``--device`` (those of its ``demoe eval-plan`` call): manifest, expert, metrics,
    TLC (Table 6), RealBlur protocol, metric weights and the two output files."""
    dataset = evaluation.dataset
    args = ["--manifest", eval_manifest(dataset, manifests), "--dataset", dataset]
    args += ["--task", evaluation.expert, "--metrics", *eval_metrics(dataset, eval_cfg)]
    if evaluation.tlc is not None:
        args += ["--tlc", tlc_cli_value(evaluation.tlc)]
        args += ["--tlc-train-size", str(eval_cfg["tlc"]["train_size"])]
    if dataset in eval_cfg["align_ecc"]:
        args.append("--align-ecc")
    if needs_niqe(dataset, eval_cfg):
        args += [weight_flag(NIQE_KEY), niqe_params]
    for key in weight_keys():
        if key != NIQE_KEY and eval_cfg.get(key):
            args += [weight_flag(key), eval_cfg[key]]
    if eval_cfg["save_images"]:
        args += ["--save-images", str(evaluation.path(results, "_images"))]
    out, summary = (str(evaluation.path(results, s)) for s in (".csv", ".json"))
    return [*args, "--out", out, "--summary", summary]


@dataclass(frozen=True)
class EvalJob:
    """Every evaluation of one experiment: one ``demoe eval-plan`` call, one rule."""

    experiment: str
    evaluations: tuple[Evaluation, ...]

    @property
    def rule_name(self) -> str:
        return f"evaluate_{self.experiment}"

    @property
    def runtime(self) -> int:
        """Minutes the job may run (the ``runtime`` resource)."""
        return max(MIN_RUNTIME_MIN, RUNTIME_PER_EVALUATION_MIN * len(self.evaluations))

    def outputs(self, results: str) -> list[str]:
        """The per-image CSV and the summary JSON of each evaluation."""
        return [str(e.path(results, s)) for e in self.evaluations for s in (".csv", ".json")]

    def card_output(self, results: str) -> dict[str, str]:
        """The model card the job writes again with its scores (none for the blurry input)."""
        if self.experiment == BLURRY_INPUT:
            return {}
        return {"card": paths.model_file(results, self.experiment, paths.CARD_FILE)}

    def card_options(self, intervals: str) -> str:
        """``demoe eval-plan``'s card options, shell-quoted (``intervals``: the config's
        ``analysis.intervals`` as JSON)."""
        if self.experiment == BLURRY_INPUT:
            return ""
        return shlex.join(["--card", "--intervals", intervals])

    def inputs(
        self,
        results: str,
        manifests: Mapping[str, str],
        eval_cfg: Mapping[str, Any],
        niqe_params: str,
    ) -> dict[str, str | list[str]]:
        """Named inputs: the model (none for the blurry input), the manifests read, and the
        NIQE model where an evaluation scores NIQE."""
        inputs: dict[str, str | list[str]] = {}
        if self.experiment != BLURRY_INPUT:
            inputs |= {
                "weights": paths.model_file(results, self.experiment),
                "config": paths.model_file(results, self.experiment, paths.CONFIG_FILE),
            }
        datasets = [e.dataset for e in self.evaluations]
        inputs["manifests"] = list(dict.fromkeys(eval_manifest(d, manifests) for d in datasets))
        if any(needs_niqe(d, eval_cfg) for d in datasets):
            inputs["niqe"] = niqe_params
        return inputs

    def source(self, results: str) -> str:
        """The ``demoe eval-plan`` model arguments, shell-quoted."""
        if self.experiment == BLURRY_INPUT:
            return "--blurry-input"
        return shlex.join(["--model", paths.model_dir(results, self.experiment)])

    def plan(
        self,
        results: str,
        manifests: Mapping[str, str],
        eval_cfg: Mapping[str, Any],
        niqe_params: str,
    ) -> str:
        """The ``--plan`` JSON: one ``demoe eval`` argument list per evaluation."""
        return json.dumps(
            [eval_arguments(e, results, manifests, eval_cfg, niqe_params) for e in self.evaluations]
        )


def eval_jobs(evaluations: Iterable[Evaluation]) -> list[EvalJob]:
    """The evaluations grouped by experiment, experiments and evaluations in plan order."""
    grouped: dict[str, list[Evaluation]] = {}
    for e in dict.fromkeys(evaluations):
        grouped.setdefault(e.experiment, []).append(e)
    return [EvalJob(name, tuple(evals)) for name, evals in grouped.items()]
