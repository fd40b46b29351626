"""The MoE decoder block (paper Sec. 3.3, Eq. 2; the App. F Table 5 (left) variants).

``num_exp`` experts mixed by the router weights ``w``; NAFBlocks in DeMoE, or another
block of :data:`demoe.models.experts.EXPERT_BLOCKS` (``expert_block``, App. F Table 7):

* soft gating (training default, Eq. 2): ``sum_e w_e * E_e(h)`` over every expert;
* top-k (inference): only the k most probable experts run, their weights renormalised
  to sum 1; a batch whose items pick different experts is grouped per expert.

``connection`` selects how the mixture becomes the block output (App. F, Table 5 left):
"sum" is DeMoE's (Eq. 2), "residual" adds the input (Eq. 7), "attention" multiplies the
input by the mixture, ``h · Σ wᵢ eᵢ(h)`` (Eq. 8, no squashing).
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn

from demoe.models.experts import DEFAULT_EXPERT_BLOCK, make_expert

Connection = Literal["sum", "residual", "attention"]
CONNECTIONS: tuple[str, ...] = ("sum", "residual", "attention")


class MoEBlock(nn.Module):
    def __init__(
        self,
        c: int,
        n: int = 5,
        used: int = 1,
        connection: Connection = "sum",
        expert_block: str = DEFAULT_EXPERT_BLOCK,
    ):
        super().__init__()
        if connection not in CONNECTIONS:
            raise ValueError(
                f"unknown MoE connection {connection!r}; valid: {', '.join(CONNECTIONS)}"
            )
        if not 1 <= used <= n:
            raise ValueError(
                f"k_used must be between 1 and the number of experts ({n}), got {used}"
            )
        self.used = used
        self.connection = connection
        self.experts = nn.ModuleList(make_expert(expert_block, c) for _ in range(n))

    def forward(self, h: torch.Tensor, weights: torch.Tensor, sparse: bool) -> torch.Tensor:
        """Mix the experts on ``h`` (B, C, H, W) with ``weights`` (B, num_exp)."""
        if len(self.experts) == 1:
            mixed = self.experts[0](h)
        elif sparse:
            mixed = self.top_k(h, weights, self.used)
        else:
            mixed = self.soft(h, weights)
        return self.connect(h, mixed)

    def soft(self, h: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        """Eq. 2: every expert, weighted by the router."""
        w = weights.to(h.dtype)
        out = w[:, 0].view(-1, 1, 1, 1) * self.experts[0](h)
        for e in range(1, len(self.experts)):
            out = out + w[:, e].view(-1, 1, 1, 1) * self.experts[e](h)
        return out

    def top_k(self, h: torch.Tensor, weights: torch.Tensor, k: int) -> torch.Tensor:
        """Only the top-k experts per item run; items are grouped by expert."""
        top_w, top_i = weights.topk(k, dim=1)
        top_w = (top_w / top_w.sum(1, keepdim=True)).to(h.dtype)
        chosen = top_i.unique()
        if k == 1 and chosen.numel() == 1:
            return self.experts[int(chosen)](h)  # whole batch, weight exactly 1
        out = torch.zeros_like(h)
        for e in chosen.tolist():
            rows, slot = (top_i == e).nonzero(as_tuple=True)
            y = self.experts[e](h.index_select(0, rows))
            out = out.index_add(0, rows, y * top_w[rows, slot].view(-1, 1, 1, 1))
        return out

    def connect(self, h: torch.Tensor, mixed: torch.Tensor) -> torch.Tensor:
        if self.connection == "sum":
            return mixed
        if self.connection == "residual":
            return h + mixed
        return h * mixed  # Eq. 8
