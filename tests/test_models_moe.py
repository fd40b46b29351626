"""The MoE block's output connections (paper Eq. 2, 7 and 8; App. F, Table 5 left)."""

from __future__ import annotations

import pytest
import torch
from conftest import randomize_affine

from demoe.models.moe import MoEBlock


def block(connection: str) -> MoEBlock:
    torch.manual_seed(0)
    return randomize_affine(MoEBlock(4, n=2, used=2, connection=connection)).eval()


def by_hand(moe: MoEBlock, h: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """Σ wᵢ eᵢ(h), written out for two experts."""
    e0, e1 = (expert(h) for expert in moe.experts)
    return w[:, 0].view(-1, 1, 1, 1) * e0 + w[:, 1].view(-1, 1, 1, 1) * e1


@pytest.mark.parametrize(
    ("connection", "combine"),
    [
        ("sum", lambda h, mixed: mixed),  # Eq. 2
        ("residual", lambda h, mixed: h + mixed),  # Eq. 7
        ("attention", lambda h, mixed: h * mixed),  # Eq. 8: no sigmoid
    ],
)
def test_connection_follows_its_equation(connection, combine):
    moe = block(connection)
    h = torch.randn(2, 4, 5, 6)
    w = torch.tensor([[0.7, 0.3], [0.2, 0.8]])
    with torch.inference_mode():
        out = moe(h, w, sparse=False)
        expected = combine(h, by_hand(moe, h, w))
    torch.testing.assert_close(out, expected)


def test_attention_is_not_squashed():
    """Eq. 8 multiplies by the raw mixture: values outside (0, 1) pass through."""
    moe = block("attention")
    h = torch.ones(1, 4, 3, 3)
    w = torch.tensor([[0.5, 0.5]])
    with torch.inference_mode():
        mixed = by_hand(moe, h, w)
        out = moe(h, w, sparse=False)
    assert (mixed.abs() > 1).any()
    torch.testing.assert_close(out, mixed)
