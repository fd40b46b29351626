"""DeMoE: a NAFNet U-Net whose decoder mixes blur-specific experts (paper Sec. 3.2-3.3, Fig. 3).

A router on the features after the last downsampling predicts the blur type; its
softmax weights mix the experts of a MoE block placed after the middle blocks and
after every decoder level (the same weights serve every block). State-dict keys and
constructor arguments are the published ones, so the authors' checkpoint loads as is.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from demoe.models.experts import DEFAULT_EXPERT_BLOCK
from demoe.models.layers import BlockSequence
from demoe.models.moe import Connection, MoEBlock
from demoe.models.router import Router
from demoe.models.unet import UNet
from demoe.tasks import TASKS, task_index

Gating = Literal["auto", "soft", "topk"]
GATINGS: tuple[str, ...] = ("auto", "soft", "topk")


class DeMoEOutput(NamedTuple):
    output: torch.Tensor  # restored image (B, C, H, W), raw (not clamped)
    logits: torch.Tensor  # router logits (B, num_exp), on the padded input
    weights: torch.Tensor  # weights that mixed the experts (B, num_exp)


class DeMoE(UNet):
    """DeMoE with the published constructor.

    Options beyond the published ones (defaults reproduce the paper's model):

    * ``connection``: MoE block output, "sum" (DeMoE), "residual" or "attention"
      (Table 5 left ablations, Eqs. 7-8);
    * ``moe_blocks_per_stage``: MoE blocks stacked after each stage (Table 5 right);
    * ``block_experts``: experts per MoE block; 1 gives the stage-1 baseline, the
      "k=1 network" whose single block is later copied into every expert (Sec. 3.4);
    * ``gating``: "auto" mixes all experts in training (Eq. 2) and runs only the top-k
      at inference; "soft" and "topk" force one behaviour;
    * ``router_noise``: std of Gaussian noise added to router logits in training
      (a Fig. 6 training-strategy ablation);
    * ``expert_block``: the block every expert is, "nafblock" (DeMoE) or one of the
      App. F Table 7 alternatives ("darkir", "wavelet", "restormer", "plk").
    """

    def __init__(
        self,
        img_channel: int = 3,
        width: int = 32,
        middle_blk_num: int = 2,
        enc_blk_nums: Sequence[int] = (2, 2, 2, 2),
        dec_blk_nums: Sequence[int] = (2, 2, 2, 2),
        num_exp: int = 5,
        k_used: int = 1,
        *,
        connection: Connection = "sum",
        moe_blocks_per_stage: int = 1,
        block_experts: int | None = None,
        gating: Gating = "auto",
        router_noise: float = 0.0,
        expert_block: str = DEFAULT_EXPERT_BLOCK,
    ) -> None:
        super().__init__(
            img_channel, width, middle_blk_num, enc_blk_nums, dec_blk_nums, BlockSequence
        )
        if gating not in GATINGS:
            raise ValueError(f"unknown gating {gating!r}; valid: {', '.join(GATINGS)}")
        if not 1 <= k_used <= num_exp:
            raise ValueError(f"k_used must be between 1 and num_exp ({num_exp}), got {k_used}")
        n_block = num_exp if block_experts is None else block_experts
        if n_block not in (1, num_exp):
            raise ValueError(f"block_experts must be 1 or num_exp ({num_exp}), got {n_block}")
        self.num_experts = num_exp
        self.moe_blocks_per_stage = moe_blocks_per_stage
        self.gating = gating
        self.router_noise = router_noise
        self.experts = nn.ModuleList(
            MoEBlock(c, n_block, min(k_used, n_block), connection, expert_block)
            for c in self.level_channels
            for _ in range(moe_blocks_per_stage)
        )
        self.mlp_branch = Router(self.bottleneck_channels, num_exp)
        self.config = {
            "img_channel": img_channel,
            "width": width,
            "middle_blk_num": middle_blk_num,
            "enc_blk_nums": list(enc_blk_nums),
            "dec_blk_nums": list(dec_blk_nums),
            "num_exp": num_exp,
            "k_used": k_used,
            "connection": connection,
            "moe_blocks_per_stage": moe_blocks_per_stage,
            "block_experts": n_block,
            "expert_block": expert_block,
        }

    @property
    def k_used(self) -> int:
        return self.experts[0].used

    def forward(
        self, inp: torch.Tensor, task: str = "auto", return_aux: bool = False
    ) -> torch.Tensor | DeMoEOutput:
        """Restore ``inp`` (B, C, H, W). ``task`` = "auto" lets the router choose;
        a task name or alias from ``demoe.TASKS`` selects that expert by hand."""
        h, w = inp.shape[-2:]
        x = self.prepare(inp)
        feats, skips = self.encode(x)
        logits = self.mlp_branch(feats)
        if self.training and self.router_noise > 0:
            logits = logits + self.router_noise * torch.randn_like(logits)
        if task == "auto":
            weights = F.softmax(logits, dim=1)
            sparse = self.gating == "topk" or (self.gating == "auto" and not self.training)
        else:
            weights = self.manual_weights(task, x.shape[0], x.device)
            sparse = True

        def moe(stage: int, y: torch.Tensor) -> torch.Tensor:
            first = stage * self.moe_blocks_per_stage
            for block in self.experts[first : first + self.moe_blocks_per_stage]:
                y = block(y, weights, sparse)
            return y

        out = (self.decode(feats, skips, moe) + x)[..., :h, :w]
        return DeMoEOutput(out, logits, weights) if return_aux else out

    def route(self, inp: torch.Tensor) -> torch.Tensor:
        """Router probabilities (B, num_exp) for ``inp`` (zero-padded as in forward)."""
        feats, _ = self.encode(self.prepare(inp))
        return F.softmax(self.mlp_branch(feats), dim=1)

    def manual_weights(self, task: str, batch: int, device: torch.device) -> torch.Tensor:
        """One-hot weights selecting the expert of ``task`` (ValueError for unknown names)."""
        if self.num_experts != len(TASKS):
            raise ValueError(
                f"manual task selection needs {len(TASKS)} experts (one per task), "
                f"this model has {self.num_experts}"
            )
        weights = torch.zeros(batch, self.num_experts, device=device)
        weights[:, task_index(task)] = 1.0
        return weights

    def stage_stride(self, part: str, idx: str) -> int:
        if part != "experts":
            return super().stage_stride(part, idx)
        stage = int(idx) // self.moe_blocks_per_stage
        return 2 ** (len(self.encoders) - stage)
