"""Which of our models is which paper row: the one place that says so.

Our ``baseline_aio`` (the stage-1 NAFNet baseline, trained with the classification loss)
is Table 1's "NAFNet" row and Table 5's "Baseline w/ classification loss"; our ``demoe``
is "DeMoE k=1" in Tables 1-3, 5, 6, 8 and 9 and "DeMoE" in Table 7; ``table7_darkir`` is
Table 7's "DarkIR"; the size of the ``nafnet`` model preset is Table 1's NAFNet cost; and
so on. Everything else derives from here:

* :data:`REPRODUCES`: per results table, each paper row that one of our models
  reproduces (its label as :func:`paper_row_label` prints the row of
  ``config/reported/<table>.csv``) → that model (:class:`Source`). The results tables
  (:mod:`demoe.analysis.tables`) show our numbers beside those rows, and each plan row of
  :mod:`demoe.experiments.paper_tables` carries the paper row it reproduces
  (``Row.reported_as``). Paper rows that none of our models reproduces (PromptIR, NAFNet
  with TLC, ...) are shown as the paper's only.
* :data:`COST_ROWS`: per model preset (:mod:`demoe.models.registry`), the paper row that
  prints its size; the cost table (``analysis/cost_table.py``,
  ``workflow/rules/cost.smk``) puts those numbers beside ours.
* :data:`COMPARED_METHODS`: the other methods of Tables 1 and 2 that we train ourselves
  (:func:`register_compared_method`): each adds its row to the tables it appears in
  (:mod:`demoe.experiments.paper_tables`), its entries to :data:`REPRODUCES` and its cost
  row to :data:`COST_ROWS`.

Our model in a row is an experiment (:mod:`demoe.experiments.catalogue`) in an expert
mode (:data:`AUTO`: the router; a task: that expert, chosen by hand; :data:`MATCHING`:
the dataset's own expert) with a TLC scope (None, :data:`TLC_ALL` or tasks; Table 6).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any, NamedTuple

from demoe.errors import ConfigError
from demoe.experiments.catalogue import (
    TRAINING_STRATEGIES,
    compared_experiment,
    table7_experiment,
)

#: Expert modes: the router, and per dataset the expert of the dataset's own task.
AUTO = "auto"
MATCHING = "matching"
#: TLC on every block (Table 6).
TLC_ALL = "all"
#: A :class:`Source` TLC scope: whatever partial scope the table's plan evaluates (Table 6).
PARTIAL_TLC = "partial"
#: Table 3 DeMoE*: one experiment per dataset, ``demoe_star_<dataset>``.
STAR_PREFIX = "demoe_star_"
#: Marks the paper appends to a method (``setting`` column of config/reported).
MARKS: tuple[str, ...] = ("*", "†")


@dataclass(frozen=True)
class Source:
    """Our model behind a paper row: an experiment in one expert mode and TLC scope.

    ``experiment`` may hold ``{dataset}`` for one model per dataset (Table 3 DeMoE*).
    """

    experiment: str
    expert: str = AUTO  # AUTO, a task, or MATCHING (the dataset's own expert)
    tlc: str | None = None  # None, TLC_ALL or PARTIAL_TLC
    datasets: tuple[str, ...] | None = None  # None: every dataset of the table


def paper_row_label(method: str, setting: str = "") -> str:
    """The label of a paper row: its method plus its mark or setting, as printed."""
    if not setting:
        return method
    return f"{method}{setting}" if setting in MARKS else f"{method} ({setting})"


_NAFNET = Source("baseline_aio")  # Table 5: Table 1's NAFNet is the baseline w/ class loss
_DEMOE = Source("demoe")
#: Which of our models reproduces which paper row, per table (rows whose model the plan
#: does not evaluate stay reported-only).
REPRODUCES: dict[str, dict[str, Source]] = {
    "table1_aio_deblurring": {"NAFNet": _NAFNET, "DeMoE k=1": _DEMOE},
    "table2_ood": {
        "NAFNet": _NAFNET,
        "DeMoE k=1": _DEMOE,
        # Sec. 4.2: the DPDD, RealBlur and LOLBlur experts for RealDOF, RSBlur, Real-LOLBlur.
        paper_row_label("DeMoE k=1", "†"): Source("demoe", MATCHING),
    },
    "table3_task_specific": {
        "DeMoE k=1": _DEMOE,
        paper_row_label("DeMoE k=1", "*"): Source(STAR_PREFIX + "{dataset}", MATCHING),
    },
    "table5_ablations": {
        "Addition residual to MoEBlock output": Source("ablation_residual"),
        "Attention connection to MoEBlock output": Source("ablation_attention"),
        "Larger channel embedding (32 → 64)": Source("ablation_width64"),
        "DeMoE k=1": _DEMOE,
        "Baseline w/o classification loss": Source("baseline_aio_noclass"),
        "Baseline w/ original architecture": Source("baseline_original_arch"),
        "Baseline w/ classification loss": _NAFNET,
        "More middle NAFBlocks": Source("ablation_middle12"),
        "More MoEBlocks": Source("ablation_moe_blocks"),
    },
    "table6_tlc": {
        paper_row_label("NAFNet", "no TLC"): _NAFNET,
        paper_row_label("NAFNet", "TLC on all layers"): Source("baseline_aio", tlc=TLC_ALL),
        paper_row_label("DeMoE k=1", "TLC on all layers"): Source("demoe", tlc=TLC_ALL),
        paper_row_label("DeMoE k=1", "partial TLC"): Source("demoe", tlc=PARTIAL_TLC),
        paper_row_label("DeMoE k=1", "no TLC"): _DEMOE,
    },
    "table7_expert_blocks": {
        "DeMoE": _DEMOE,
        # App. F: DeMoE with the experts made of another block.
        "DarkIR": Source(table7_experiment("darkir")),
        "Wavelet Expert": Source(table7_experiment("wavelet")),
        "Restormer": Source(table7_experiment("restormer")),
        "PLK Expert": Source(table7_experiment("plk")),
    },
    "table8_ood_extended": {
        paper_row_label("NAFNet", "*"): _NAFNET,
        "DeMoE k=1": _DEMOE,
        "DeMoE k=realblur": Source("demoe", "global_motion", datasets=("rsblur",)),
    },
    "table9_real_lolblur": {
        paper_row_label("NAFNet", "*"): _NAFNET,
        "DeMoE k=1": _DEMOE,
        "DeMoE k=lolblur": Source("demoe", "low_light"),
    },
    "table_fig06_training_strategy": {
        "End-to-end training from scratch": Source(TRAINING_STRATEGIES["scratch"]),
        "Added noise to the router weights while training to use more experts": Source(
            TRAINING_STRATEGIES["router_noise"]
        ),
        "Fine-tune the pre-trained baseline": Source(TRAINING_STRATEGIES["finetune_all"]),
        "Fine-tune only the MoE decoder (DeMoE k=1)": Source(
            TRAINING_STRATEGIES["finetune_moe_decoder"]
        ),
    },
}


class CostRow(NamedTuple):
    """Where the paper prints a model preset's cost: the file under config/reported/ and
    the method there (the ``demoe.eval.cost.PaperCostRow`` its callers pass)."""

    label: str  # the model as the cost table names it
    file: str
    method: str


#: Model preset → the paper row giving its cost.
COST_ROWS: dict[str, CostRow] = {
    "nafnet": CostRow("NAFNet", "table1_aio_deblurring.csv", "NAFNet"),
    "demoe": CostRow("DeMoE k=1", "table1_aio_deblurring.csv", "DeMoE k=1"),
    "nafnet_original_arch": CostRow(
        "Baseline w/ original architecture",
        "table5_ablations.csv",
        "Baseline w/ original architecture",
    ),
    "demoe_middle12": CostRow(
        "More middle NAFBlocks", "table5_ablations.csv", "More middle NAFBlocks"
    ),
    "demoe_moe_blocks2": CostRow("More MoEBlocks", "table5_ablations.csv", "More MoEBlocks"),
    "demoe_width64": CostRow(
        "Width 64 (32 → 64)", "table5_ablations.csv", "Larger channel embedding (32 → 64)"
    ),
    "demoe5": CostRow("DeMoE-5", "table3_task_specific.csv", "DeMoE-5"),
    # Table 7: DeMoE with other expert blocks (the paper's "Expert" column)
    "demoe_darkir": CostRow("DarkIR expert", "table7_expert_blocks.csv", "DarkIR"),
    "demoe_wavelet": CostRow("Wavelet expert", "table7_expert_blocks.csv", "Wavelet Expert"),
    "demoe_restormer": CostRow("Restormer expert", "table7_expert_blocks.csv", "Restormer"),
    "demoe_plk": CostRow("PLK expert", "table7_expert_blocks.csv", "PLK Expert"),
}


#: Tables whose rows of other methods trained on AIO-Blur carry a mark ("Results with *
#: were trained in the AIO-Blur dataset", Tables 8 and 9 captions).
AIO_TRAINED_MARKS: dict[str, str] = {"table8_ood_extended": "*", "table9_real_lolblur": "*"}


@dataclass(frozen=True)
class ComparedMethod:
    """A method the paper compares DeMoE with that we train on AIO-Blur ourselves, or the
    user's own model (config ``models:``).

    ``experiment``: the catalogue experiment training it; ``preset``: its model preset
    (its cost row); ``paper_name``: its method name in ``config/reported/`` (e.g.
    "Restormer"), or the user's name for their model; ``tables``: the results tables that
    list it; ``reported``: whether the paper reports it (then its paper rows and cost row
    sit beside ours; a user's model has none).
    """

    experiment: str
    preset: str
    paper_name: str
    tables: tuple[str, ...] = ("table1_aio_deblurring", "table2_ood")
    reported: bool = True

    def paper_label(self, table: str) -> str:
        """Its paper row in ``table`` (with the AIO-Blur mark of Tables 8 and 9)."""
        return paper_row_label(self.paper_name, AIO_TRAINED_MARKS.get(table, ""))


#: The compared methods trained here, in the order their rows are printed.
COMPARED_METHODS: list[ComparedMethod] = []


def register_compared_method(method: ComparedMethod) -> ComparedMethod:
    """Add ``method``: its paper rows in :data:`REPRODUCES`, its cost row (Table 1) in
    :data:`COST_ROWS`, and (through :data:`COMPARED_METHODS`) a row of ours in each of its
    tables. ValueError if its experiment or paper name is already there."""
    taken = [m for m in COMPARED_METHODS if method.experiment == m.experiment]
    taken += [m for m in COMPARED_METHODS if method.paper_name == m.paper_name]
    if taken or (method.reported and method.preset in COST_ROWS):
        raise ValueError(f"compared method {method.paper_name}: already registered")
    COMPARED_METHODS.append(method)
    if method.reported:
        for table in method.tables:
            REPRODUCES.setdefault(table, {})[method.paper_label(table)] = Source(method.experiment)
        COST_ROWS[method.preset] = CostRow(
            method.paper_name, "table1_aio_deblurring.csv", method.paper_name
        )
    return method


def unregister_compared_method(experiment: str) -> None:
    """Remove the compared method trained by ``experiment`` and everything it added."""
    method = next(m for m in COMPARED_METHODS if m.experiment == experiment)
    COMPARED_METHODS.remove(method)
    if method.reported:
        for table in method.tables:
            del REPRODUCES[table][method.paper_label(table)]
        del COST_ROWS[method.preset]


def compared_rows(
    table: str, methods: Iterable[ComparedMethod] | None = None
) -> list[ComparedMethod]:
    """The compared methods listed in ``table``, in order (``methods``: those of the run's
    plan, default every registered one)."""
    return [m for m in (COMPARED_METHODS if methods is None else methods) if table in m.tables]


def compared_to_json(methods: Iterable[ComparedMethod]) -> str:
    """``methods`` as JSON (the table scripts' ``--compared`` option)."""
    return json.dumps([asdict(m) for m in methods])


def compared_from_json(text: str) -> list[ComparedMethod]:
    """Inverse of :func:`compared_to_json`; ConfigError naming the option when malformed."""
    try:
        items: Any = json.loads(text)
        return [
            ComparedMethod(**{**item, "tables": tuple(item.get("tables", ()))}) for item in items
        ]
    except (json.JSONDecodeError, TypeError, AttributeError) as exc:
        raise ConfigError(f"--compared: not a JSON list of compared methods: {exc}") from exc


_TABLES_8_9 = ("table8_ood_extended", "table9_real_lolblur")
# Table 1's compared methods (Sec. 4.1), each in the tables that print it: PromptIR only in
# Table 1; Restormer, FFTFormer and SFHFormer also in Table 2 and (marked *) Tables 8, 9.
for _arch, _name, _tables in (
    ("restormer", "Restormer", ("table1_aio_deblurring", "table2_ood", *_TABLES_8_9)),
    ("promptir", "PromptIR", ("table1_aio_deblurring",)),
    ("fftformer", "FFTFormer", ("table1_aio_deblurring", "table2_ood", *_TABLES_8_9)),
    ("sfhformer", "SFHFormer", ("table1_aio_deblurring", "table2_ood", *_TABLES_8_9)),
):
    register_compared_method(ComparedMethod(compared_experiment(_arch), _arch, _name, _tables))
