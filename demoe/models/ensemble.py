"""DeMoE-5: the ensemble of the five task-specific DeMoE* networks (paper Sec. 5, Fig. 6).

Sec. 5 ("Efficiency Study") compares DeMoE with "an ensemble comprising the five
task-specific DeMoE* networks in Table 3", 50.4 M parameters (5 × 10.08 M). The paper
does not say how the ensemble picks a member; it has no router, so here an image goes
to the member of its task, given by the caller (oracle / manual selection, as for
DeMoE† in Table 2). Only that member runs: one forward costs one NAFNet's MACs and
runtime, while the parameters are those of all five. Evaluated this way on AIO-Blur,
DeMoE-5 scores exactly the DeMoE* rows of Table 3 (each dataset's images reach the
DeMoE* fine-tuned on it), which is how the paper's "0.3 % drop" compares the two.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn

from demoe.models.nafnet import NAFNet
from demoe.tasks import TASKS, resolve_task


class TaskEnsemble(nn.Module):
    """One :class:`NAFNet` per task; ``forward(x, task)`` runs the member of ``task``.

    Constructor arguments are the members' (all share one architecture).
    """

    def __init__(self, tasks: Sequence[str] = TASKS, **member: Any) -> None:
        super().__init__()
        canonical = [resolve_task(t) for t in tasks]
        if len(set(canonical)) != len(canonical) or not canonical:
            raise ValueError(f"tasks must be distinct and non-empty, got {list(tasks)}")
        self.members = nn.ModuleDict({t: NAFNet(**member) for t in canonical})
        first = next(iter(self.members.values()))
        self.img_channel = first.img_channel
        self.config = {"tasks": canonical, **first.config}

    @classmethod
    def from_members(cls, members: Mapping[str, NAFNet]) -> TaskEnsemble:
        """The ensemble of trained members keyed by task (e.g. the five DeMoE*)."""
        configs = [m.config for m in members.values()]
        if any(c != configs[0] for c in configs):
            raise ValueError("ensemble members must share one architecture")
        ensemble = cls(list(members), **configs[0])
        for task, member in members.items():
            ensemble.members[resolve_task(task)].load_state_dict(member.state_dict())
        return ensemble

    def member(self, task: str) -> NAFNet:
        """The network that restores images of ``task`` (ValueError for unknown tasks)."""
        key = resolve_task(task)
        if key not in self.members:
            raise ValueError(f"no member for task {key!r}; members: {', '.join(self.members)}")
        return self.members[key]

    def forward(self, inp: torch.Tensor, task: str = "auto") -> torch.Tensor:
        if task == "auto":
            raise ValueError(
                "DeMoE-5 has no router: pass the image's task (manual / oracle selection)"
            )
        return self.member(task)(inp)
