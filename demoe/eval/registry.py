"""The metric registry: every image metric of the tables, each defined once, by one record.

A metric is a :class:`Metric` (name, kind, how to compute it, the config ``eval`` keys of its
weight files, how the tables print it) added with :func:`register_metric`; the built-in ones
(PSNR, SSIM, LPIPS, MUSIQ, NRQM, NIQE) are registered at the bottom of this module. Everything
that names metrics reads the registry, so a new metric is one ``register_metric`` call (plus
its name in the metric enums of ``config/schema/config.schema.yaml``, and its weight keys
under ``eval`` there; ``tests/test_metric_registry.py`` checks both):

* :func:`compute_metrics` (``demoe eval``) dispatches on it; an unknown name is a ConfigError
  naming the registered ones, never a fall-through to another metric;
* ``demoe eval`` has one ``--<weight key>`` option per weight file (:func:`weight_keys`,
  :func:`weight_flag`) and passes each metric exactly its own files
  (:func:`create_metric`); nothing reaches a metric through the environment;
* the evaluation jobs (:mod:`demoe.experiments.eval_jobs`) pass the config's files under
  the same keys;
* the results tables (:mod:`demoe.analysis.table_render`) take each metric's label,
  decimals and LaTeX symbols from its record, and order the metrics as registered: the
  built-ins in the paper's column order (PSNR, SSIM, LPIPS, MUSIQ, NRQM, NIQE).

Inputs follow :mod:`demoe.eval.common` (float RGB in [0, 1]). Conventions of
:func:`compute_metrics`, used for every table:

* full-reference metrics are unavailable without a target;
* RealBlur protocol (``align=True``, RealBlur-J and RSBlur): the prediction is scaled and
  aligned to the target by an ECC homography (:mod:`demoe.eval.ecc`); a metric with a
  RealBlur variant (PSNR, SSIM: over the valid-pixel mask, exactly as the RealBlur authors'
  evaluation) uses it, any other full-reference metric (LPIPS, which that protocol does not
  define) is computed on the two masked images;
* no-reference metrics are computed on the unaligned prediction;
* PSNR, aligned or not, is capped at ``PSNR_CEILING_DB`` (100 dB, ours: identical images
  would make it infinite; :mod:`demoe.eval.metrics`), so every value is a finite number;
  the record's ``note`` says so for the tables' notes;
* an unavailable metric (missing weights or parameters) is NaN in the values, with a
  one-line reason under the same name in the reasons; callers print "n/a (reason)".
"""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple

import numpy as np
import torch

from demoe.errors import ConfigError
from demoe.eval.common import Image, MetricUnavailable, as_batch, to_hwc
from demoe.eval.ecc import AlignResult, masked_psnr, masked_ssim, realblur_align
from demoe.eval.iqa import FILE_HINTS, FILE_KEYS, load_musiq, load_nrqm, required_file
from demoe.eval.lpips import BACKBONE_KEY, LIN_KEY, load_lpips
from demoe.eval.metrics import PSNR_CEILING_DB, psnr, ssim
from demoe.eval.niqe import load_niqe_model, niqe

__all__ = [
    "DEFAULT_METRICS",
    "FULL_REFERENCE",
    "NO_REFERENCE",
    "Metric",
    "MetricsResult",
    "check_required_files",
    "compute_metrics",
    "create_metric",
    "get_metric",
    "metric_names",
    "register_metric",
    "registered_metric",
    "registered_metrics",
    "weight_flag",
    "weight_keys",
]

FULL_REFERENCE = "full-reference"
NO_REFERENCE = "no-reference"
MetricKind = Literal["full-reference", "no-reference"]
WeightPath = str | os.PathLike | None
#: A loaded metric: ``f(pred, target)`` (full-reference) or ``f(image)`` (no-reference).
Scorer = Callable[[Image, Image], float] | Callable[[Image], float]
#: Metrics of ``demoe eval`` and :func:`compute_metrics` when none are named.
DEFAULT_METRICS: tuple[str, ...] = ("psnr", "ssim", "lpips")


@dataclass(frozen=True)
class Metric:
    """One image metric: how it is computed and how the tables print it.

    ``load(**weights)`` returns the scoring function; it receives, by keyword, the files
    of the metric's ``weights`` keys (None where not given) and raises MetricUnavailable,
    naming the key, when a file it needs is missing. ``weights`` maps each config ``eval``
    key of the metric's weight files to what that file is (the ``demoe eval --<key>``
    help). ``aligned``: the metric's own RealBlur-protocol variant, if it has one (module
    docstring). ``latex``: characters of ``display`` that pdflatex lacks, mapped to LaTeX.
    ``note``: a convention of ours the tables state in their notes (empty: none).
    """

    name: str  # config, --metrics, the per-image CSV column and the summary key
    kind: MetricKind
    load: Callable[..., Scorer]
    display: str  # as the tables print it, e.g. "PSNR"
    higher_is_better: bool
    decimals: int  # of our numbers in the tables (the paper's)
    unit: str = ""  # printed after the direction, e.g. "dB"
    weights: Mapping[str, str] = field(default_factory=dict)
    aligned: Callable[[AlignResult], float] | None = None
    latex: Mapping[str, str] = field(default_factory=dict)
    note: str = ""

    def __post_init__(self) -> None:
        if not self.name.isidentifier() or self.name != self.name.lower():
            raise ConfigError(f"metric name {self.name!r}: expected a lower-case identifier")
        if self.kind not in (FULL_REFERENCE, NO_REFERENCE):
            raise ConfigError(
                f"metric {self.name}: kind {self.kind!r}; valid: {FULL_REFERENCE}, {NO_REFERENCE}"
            )
        if self.aligned is not None and self.kind != FULL_REFERENCE:
            raise ConfigError(
                f"metric {self.name}: only a full-reference metric has an aligned form"
            )

    @property
    def label(self) -> str:
        """Column label of the tables: display name, direction and unit, e.g. "PSNR↑ (dB)"."""
        arrow = "↑" if self.higher_is_better else "↓"
        return f"{self.display}{arrow}" + (f" ({self.unit})" if self.unit else "")

    @property
    def weight_keys(self) -> tuple[str, ...]:
        return tuple(self.weights)


_REGISTRY: dict[str, Metric] = {}


def register_metric(metric: Metric) -> Metric:
    """Add ``metric`` to the registry (after those registered before it) and return it.

    ConfigError when its name is taken or one of its weight keys belongs to another
    metric (each key is one ``demoe eval`` option). Tests use :func:`registered_metric`.
    """
    if metric.name in _REGISTRY:
        raise ConfigError(f"metric {metric.name!r} is already registered")
    owners = weight_keys()
    taken = [k for k in metric.weights if k in owners]
    if taken:
        owner = owners[taken[0]].name
        raise ConfigError(f"metric {metric.name}: weight key {taken[0]} already belongs to {owner}")
    _REGISTRY[metric.name] = metric
    return metric


@contextlib.contextmanager
def registered_metric(metric: Metric) -> Iterator[Metric]:
    """``metric`` registered for the ``with`` block only, removed after it (tests)."""
    register_metric(metric)
    try:
        yield metric
    finally:
        del _REGISTRY[metric.name]


def registered_metrics() -> tuple[Metric, ...]:
    """Every registered metric, in registration order."""
    return tuple(_REGISTRY.values())


def metric_names(kind: MetricKind | None = None) -> tuple[str, ...]:
    """Names of the registered metrics (of one kind if given), in registration order."""
    return tuple(m.name for m in _REGISTRY.values() if kind is None or m.kind == kind)


def get_metric(name: str) -> Metric:
    """The registered metric ``name``; ConfigError naming the valid ones otherwise."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ConfigError(f"unknown metric {name!r}; valid: {', '.join(_REGISTRY)}") from None


def weight_keys() -> dict[str, Metric]:
    """Config ``eval`` key of every metric weight file → the metric reading it, in order."""
    return {key: m for m in _REGISTRY.values() for key in m.weights}


def weight_flag(key: str) -> str:
    """The ``demoe eval`` option of a weight key: ``lpips_weights`` → ``--lpips-weights``."""
    return "--" + key.replace("_", "-")


def check_required_files(eval_cfg: Mapping[str, Any]) -> None:
    """ConfigError naming every weight file of the configured metrics (``eval.metrics``:
    LPIPS; ``eval.no_reference_metrics``: NIQE, MUSIQ, NRQM) that ``eval.require_iqa_files``
    needs but lacks, with what each file is and the opt-out.

    Used when the DAG is built (``config/paper.yaml`` sets ``require_iqa_files: true``), so
    a paper-scale run never reports a silent "n/a" for a metric the paper reports.
    """
    if not eval_cfg.get("require_iqa_files"):
        return
    problems = []
    for name in [*eval_cfg.get("metrics", ()), *eval_cfg["no_reference_metrics"]]:
        for key, hint in get_metric(name).weights.items():
            try:
                required_file(name, eval_cfg.get(key), key, hint)
            except MetricUnavailable as err:
                problems.append(str(err))
    if problems:
        raise ConfigError(
            "eval.require_iqa_files is true but " + "; ".join(problems) + " (nothing is "
            "downloaded: fetch each file on a machine with a network, see the README's "
            "'Evaluate the published model'; or set eval.require_iqa_files: false to run "
            "without them, their columns then n/a with the reason)"
        )


def create_metric(name: str, **weights: WeightPath) -> Scorer:
    """The scoring function of metric ``name``, loaded with its weight files.

    ``weights``: weight keys (:func:`weight_keys`) → local files; the metric receives its
    own, so one mapping serves every metric. An unknown metric or key is a ConfigError;
    a file the metric needs and lacks is MetricUnavailable naming its config key.
    """
    metric = get_metric(name)
    _check_weight_keys(weights)
    return metric.load(**{key: weights.get(key) for key in metric.weights})


def _check_weight_keys(weights: Mapping[str, WeightPath]) -> None:
    unknown = sorted(set(weights) - set(weight_keys()))
    if unknown:
        raise ConfigError(
            f"unknown metric weight keys {unknown}; valid: {', '.join(weight_keys())}"
        )


class MetricsResult(NamedTuple):
    values: dict[str, float]  # NaN where unavailable
    reasons: dict[str, str]  # why each NaN metric is unavailable


def compute_metrics(
    pred: Image,
    target: Image | None,
    metrics: Sequence[str] = DEFAULT_METRICS,
    align: bool = False,
    weights: Mapping[str, WeightPath] | None = None,
) -> MetricsResult:
    """Metrics of one prediction (single image) against ``target`` (module conventions).

    ``weights``: as for :func:`create_metric`. Unknown metric names or weight keys are a
    ConfigError before anything is computed.
    """
    unknown = [m for m in metrics if m not in _REGISTRY]
    if unknown:
        raise ConfigError(f"unknown metrics {unknown}; valid: {', '.join(_REGISTRY)}")
    chosen = [_REGISTRY[m] for m in metrics]
    weights = dict(weights or {})
    _check_weight_keys(weights)
    pred_img = to_hwc(pred)
    target_img = None if target is None else to_hwc(target)
    aligned = None if target_img is None or not align else realblur_align(pred_img, target_img)
    values: dict[str, float] = {}
    reasons: dict[str, str] = {}
    for metric in chosen:
        try:
            values[metric.name] = _score(metric, pred_img, target_img, aligned, weights)
        except MetricUnavailable as err:
            values[metric.name] = math.nan
            reasons[metric.name] = str(err)
    return MetricsResult(values, reasons)


def _score(
    metric: Metric,
    pred: np.ndarray,
    target: np.ndarray | None,
    aligned: AlignResult | None,
    weights: Mapping[str, WeightPath],
) -> float:
    """One metric of one image under the module conventions."""
    if metric.kind == NO_REFERENCE:
        return create_metric(metric.name, **weights)(pred)
    if target is None:
        raise MetricUnavailable(f"{metric.name.upper()} needs a ground-truth image")
    if aligned is None:
        return create_metric(metric.name, **weights)(pred, target)
    if metric.aligned is not None:
        return metric.aligned(aligned)
    return create_metric(metric.name, **weights)(aligned.aligned, aligned.target)


# --- the built-in metrics, in the paper's column order -----------------------------------


def _load_lpips(**files: WeightPath) -> Scorer:
    """LPIPS-Alex (:mod:`demoe.eval.lpips`) as ``f(pred, target)`` on single images."""
    model = load_lpips(files[LIN_KEY], files[BACKBONE_KEY])
    device = model.shift.device

    def score(pred: Image, target: Image) -> float:
        pair = [as_batch(x).float().to(device) for x in (pred, target)]
        with torch.inference_mode():
            return float(model(*pair)[0])

    return score


def _load_niqe(**files: WeightPath) -> Scorer:
    """NIQE (:mod:`demoe.eval.niqe`) against the pristine model of ``eval.niqe_params``."""
    model = load_niqe_model(files[FILE_KEYS["niqe"]])
    return lambda image: niqe(image, model)


register_metric(
    Metric(
        "psnr",
        FULL_REFERENCE,
        load=lambda: psnr,
        display="PSNR",
        higher_is_better=True,
        decimals=2,
        unit="dB",
        aligned=lambda a: min(masked_psnr(a.aligned, a.target, a.mask), PSNR_CEILING_DB),
        note=f"PSNR is capped at {PSNR_CEILING_DB:g} dB (ours; identical images would give "
        "an infinite PSNR).",
    )
)
register_metric(
    Metric(
        "ssim",
        FULL_REFERENCE,
        load=lambda: ssim,
        display="SSIM",
        higher_is_better=True,
        decimals=3,
        aligned=lambda a: masked_ssim(a.aligned, a.target, a.mask),
    )
)
register_metric(
    Metric(
        "lpips",
        FULL_REFERENCE,
        load=_load_lpips,
        display="LPIPS",
        higher_is_better=False,
        decimals=3,
        weights={
            LIN_KEY: "the lin layers, the lpips package's weights/v0.1/alex.pth",
            BACKBONE_KEY: "the AlexNet backbone, a torchvision AlexNet state_dict "
            "(not needed when the lin file holds both)",
        },
    )
)
register_metric(
    Metric(
        "musiq",
        NO_REFERENCE,
        load=lambda **files: load_musiq(files[FILE_KEYS["musiq"]]),
        display="MUSIQ",
        higher_is_better=True,
        decimals=2,
        weights={FILE_KEYS["musiq"]: FILE_HINTS["musiq"]},
    )
)
register_metric(
    Metric(
        "nrqm",
        NO_REFERENCE,
        load=lambda **files: load_nrqm(files[FILE_KEYS["nrqm"]]),
        display="NRQM",
        higher_is_better=True,
        decimals=3,
        weights={FILE_KEYS["nrqm"]: FILE_HINTS["nrqm"]},
    )
)
register_metric(
    Metric(
        "niqe",
        NO_REFERENCE,
        load=_load_niqe,
        display="NIQE",
        higher_is_better=False,
        decimals=3,
        weights={FILE_KEYS["niqe"]: FILE_HINTS["niqe"]},
    )
)
