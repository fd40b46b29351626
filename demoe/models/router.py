"""The degradation router (paper Sec. 3.2, Fig. 3): an attention + MLP classifier on the
encoder bottleneck that predicts the blur type. Named ``mlp_branch`` in DeMoE checkpoints."""

from __future__ import annotations

import torch
from torch import nn


class Router(nn.Module):
    """1×1 conv → BN → ReLU → Dropout2d, a sigmoid spatial-attention map multiplied in,
    then global pooling and a two-layer MLP giving one logit per expert."""

    def __init__(self, in_channels: int, num_classes: int, hidden: int = 256, mlp: int = 128):
        super().__init__()
        self.conv_bottleneck = nn.Sequential(
            nn.Conv2d(in_channels, hidden, 1),
            nn.BatchNorm2d(hidden),
            nn.ReLU(),
            nn.Dropout2d(0.2),
        )
        self.attention = nn.Sequential(nn.Conv2d(hidden, 1, 1), nn.Sigmoid())
        self.classifier = nn.Sequential(
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            nn.Linear(hidden, mlp),
            nn.BatchNorm1d(mlp),
            nn.ReLU(),
            nn.Dropout(0.3),
            nn.Linear(mlp, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits (B, num_classes)."""
        x = self.conv_bottleneck(x)
        return self.classifier(x * self.attention(x))
