"""The GPU path: run on a CUDA machine with `pytest -m gpu`.

Skipped without CUDA. Checks bf16 autocast training against fp32, DDP with NCCL on
one GPU, GPU evaluation against CPU evaluation and the fused channels_last inference
path on CUDA.
"""

from __future__ import annotations

import socket

import pytest
import torch
import torch.nn.functional as F
from conftest import CONFORMANCE

from demoe.data.manifest import read_manifest
from demoe.eval.runner import evaluate
from demoe.models import create_model
from demoe.models.checkpoint import load_model
from demoe.train.toy import write_toy_aioblur

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU"),
]
CHECKPOINT = CONFORMANCE / "demoe_small_published_layout.pth"


@pytest.fixture(autouse=True)
def _exact_fp32():
    """fp32 comparisons without TF32 rounding (cuDNN/cuBLAS allow it by default)."""
    saved = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    yield
    torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved


def _loss_and_grads(model, x, y, labels, amp: bool):
    model.zero_grad()
    with torch.autocast("cuda", dtype=torch.bfloat16, enabled=amp):
        out = model(x, return_aux=True)
        loss = F.l1_loss(out.output.float(), y) + 0.001 * F.cross_entropy(
            out.logits.float(), labels
        )
    loss.backward()
    grads = torch.cat([p.grad.flatten() for p in model.parameters() if p.grad is not None])
    return loss.item(), grads


def test_bf16_training_step_matches_fp32():
    torch.manual_seed(0)
    model = create_model("demoe_small").cuda().train().to(memory_format=torch.channels_last)
    x, y = torch.rand(4, 3, 64, 64, device="cuda"), torch.rand(4, 3, 64, 64, device="cuda")
    labels = torch.randint(0, 5, (4,), device="cuda")
    loss32, g32 = _loss_and_grads(model, x, y, labels, amp=False)
    loss16, g16 = _loss_and_grads(model, x, y, labels, amp=True)
    assert abs(loss16 - loss32) <= 2e-2 * abs(loss32)
    assert F.cosine_similarity(g16, g32, dim=0) > 0.99


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_ddp_with_nccl_on_one_gpu(monkeypatch):
    """A DDP step through NCCL (world size 1: NCCL refuses two ranks on one GPU) equals
    the same step without DDP."""
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel

    monkeypatch.setenv("MASTER_ADDR", "127.0.0.1")
    monkeypatch.setenv("MASTER_PORT", str(_free_port()))
    dist.init_process_group("nccl", rank=0, world_size=1)
    try:
        torch.manual_seed(0)
        plain = create_model("demoe_small").cuda().train()
        ddp_model = create_model("demoe_small").cuda().train()
        ddp_model.load_state_dict(plain.state_dict())
        ddp = DistributedDataParallel(ddp_model, device_ids=[0])
        x, y = torch.rand(2, 3, 64, 64, device="cuda"), torch.rand(2, 3, 64, 64, device="cuda")
        for net in (plain, ddp):
            F.l1_loss(net(x), y).backward()
        for a, b in zip(plain.parameters(), ddp_model.parameters(), strict=True):
            if a.grad is not None:
                torch.testing.assert_close(a.grad, b.grad, atol=1e-6, rtol=1e-5)
        assert dist.get_backend() == "nccl"
    finally:
        dist.destroy_process_group()


def test_gpu_evaluation_equals_cpu_evaluation(tmp_path):
    manifests = write_toy_aioblur(tmp_path / "toy", size=48)
    records = read_manifest(manifests["test"])
    scores = {}
    for device in ("cpu", "cuda"):
        model = load_model(CHECKPOINT, device=device)
        table, _ = evaluate(model, records, metrics=("psnr", "ssim"), device=device)
        scores[device] = table
    assert (scores["cuda"]["psnr"] - scores["cpu"]["psnr"]).abs().max() <= 1e-4
    assert (scores["cuda"]["routed"] == scores["cpu"]["routed"]).all()


def test_fused_channels_last_path_on_cuda():
    model = load_model(CHECKPOINT, device="cuda")
    x = torch.rand(2, 3, 96, 128, device="cuda")
    with torch.inference_mode():
        fast = model(x)
        eager = type(model).forward(model, x)
    assert fast.is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(fast, eager, atol=1e-4, rtol=0)
