"""Which scale a run is: the one sentence every table, figure, scoreboard and report states.

A run of the embedded default (synthetic data, shrunken models, a few hundred steps) and a
paper-scale run (real datasets, the paper's model sizes) write the same artifacts; only
this label tells a reader which one they are looking at. It is built from the config
alone, so every rule can pass it to its script.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class RunScale:
    """``synthetic``: the embedded synthetic data; ``shrunk``: models smaller than the
    paper's (``train.model_scale``); ``profile``: the training profile's name."""

    synthetic: bool
    shrunk: bool
    profile: str
    width_divisor: int = 1
    block_divisor: int = 1
    imported: tuple[str, ...] = ()
    cost_size: int = 256
    cost_device: str = "cpu"

    @property
    def miniature(self) -> bool:
        return self.synthetic or self.shrunk

    @property
    def label(self) -> str:
        """One line: what the data and the trained models of this run are."""
        kind = "Miniature" if self.miniature else "Paper scale"
        data = "embedded synthetic data" if self.synthetic else "real datasets"
        if self.shrunk:
            models = (
                f"models shrunk from the paper's (width ÷{self.width_divisor}, "
                f"blocks ÷{self.block_divisor})"
            )
        else:
            models = "models at the paper's sizes"
        given = f"; given weights: {', '.join(self.imported)}" if self.imported else ""
        return f"{kind} run: {data}, {models}, training profile '{self.profile}'{given}."

    @property
    def cost_note(self) -> str:
        """What the cost columns describe: the architectures at the paper's sizes, measured
        by rule cost_table at ``cost.size`` px on ``cost.device``."""
        measured = f"measured at {self.cost_size} px on {self.cost_device} (rule cost_table)"
        if not self.shrunk:
            return f"Cost columns: the models at the paper's sizes, as trained here, {measured}."
        return (
            "Cost columns: the architectures at the paper's sizes (Table 1's settings), "
            f"{measured}, not the shrunken models this run trained; their scores are the "
            "shrunken models'."
        )

    def note_options(self, with_cost: bool) -> str:
        """A table script's ``--note`` options (shell-quoted): the scale line, and what the
        cost columns describe where the table has them."""
        notes = [self.label, *([self.cost_note] if with_cost else [])]
        return shlex.join(arg for note in notes for arg in ("--note", note))


def run_scale(config: Mapping[str, Any]) -> RunScale:
    """The scale of the run a (validated) workflow config describes."""
    train = config.get("train") or {}
    cost = config.get("cost") or {}
    scale = train.get("model_scale") or {}
    width = int(scale.get("width_divisor", 1))
    blocks = int(scale.get("block_divisor", 1))
    return RunScale(
        synthetic=(config.get("data") or {}).get("root") is None,
        shrunk=width > 1 or blocks > 1,
        profile=str(train.get("profile", "")),
        width_divisor=width,
        block_divisor=blocks,
        imported=tuple(sorted(config.get("checkpoints") or {})),
        cost_size=int(cost.get("size", 256)),
        cost_device=str(cost.get("device", "cpu")),
    )
