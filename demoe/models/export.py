"""ONNX export of any registered architecture, with dynamic batch, height and width.

The graph is traced by ``torch.onnx.export(dynamo=True)`` (``torch.export`` underneath)
from the fused inference copy of the model (:func:`demoe.models.fuse.fuse_for_inference`),
written atomically, and kept only if onnxruntime reproduces PyTorch on an input of
another size than the traced one (:func:`export_onnx`).

DeMoE's inference routing (paper Sec. 3.3) picks the top-k experts per image and runs
only those; which ones depends on the router's values, and a traced graph cannot
branch on values. The exported graph (:class:`DeMoEGraph`) instead runs every expert
and mixes them with the top-k weights scattered into a dense vector (zero for the
experts not chosen, the chosen ones renormalised), i.e. Eq. 2 with the sparse weights:
the same outputs as the PyTorch model (exactly so for k = 1, where the weights are
one-hot), at the cost of running all experts of each MoE block. A fixed expert
(``expert=TASK``) runs that expert alone and no router.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from demoe.io.atomic import atomic_path
from demoe.models.demoe import DeMoE
from demoe.models.fuse import fuse_for_inference
from demoe.models.moe import MoEBlock
from demoe.models.registry import architecture_of
from demoe.tasks import TASKS, task_index

#: ONNX opset of the export (the dynamo exporter's own default).
DEFAULT_OPSET = 18
#: Largest |onnxruntime - PyTorch| difference an export may show on its check input.
DEFAULT_ATOL = 1e-4
#: Height and width of the traced input, and of the check input: another size, one
#: needing padding to the models' multiples and one not, another batch size.
TRACE_SHAPE = (2, 3, 37, 45)
CHECK_SHAPE = (1, 3, 64, 48)
#: Names of the input's axes in the ONNX file ("" for the fixed channel axis).
INPUT_AXES: tuple[str, ...] = ("batch", "", "height", "width")


class DeMoEGraph(nn.Module):
    """DeMoE's forward as a graph without value-dependent branches (module docstring).

    ``expert=None``: the router chooses; returns ``(output, probabilities)``.
    ``expert=TASK``: that expert in every MoE block; returns ``output``.
    """

    def __init__(self, model: DeMoE, expert: str | None = None) -> None:
        super().__init__()
        self.model = model
        self.expert = None if expert is None else _expert_index(model, expert)

    def forward(self, inp: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        m = self.model
        h, w = inp.shape[-2:]
        x = m.prepare(inp)
        feats, skips = m.encode(x)
        probs = None
        weights = None
        if self.expert is None:
            probs = F.softmax(m.mlp_branch(feats), dim=1)
            weights = probs if m.gating == "soft" else dense_top_k(probs, m.k_used)

        def moe(stage: int, y: torch.Tensor) -> torch.Tensor:
            first = stage * m.moe_blocks_per_stage
            for block in m.experts[first : first + m.moe_blocks_per_stage]:
                y = block.connect(y, self.mix(block, y, weights))
            return y

        out = (m.decode(feats, skips, moe) + x)[..., :h, :w]
        return out if probs is None else (out, probs)

    def mix(self, block: MoEBlock, y: torch.Tensor, weights: torch.Tensor | None) -> torch.Tensor:
        if len(block.experts) == 1:
            return block.experts[0](y)
        if weights is None:
            return block.experts[self.expert](y)
        return block.soft(y, weights)


def dense_top_k(probs: torch.Tensor, k: int) -> torch.Tensor:
    """The top-k routing weights as a dense (B, num_exp) tensor: the k largest
    probabilities of each row renormalised to sum 1, zero elsewhere."""
    top_w, top_i = probs.topk(k, dim=1)
    return torch.zeros_like(probs).scatter(1, top_i, top_w / top_w.sum(1, keepdim=True))


def _expert_index(model: DeMoE, expert: str) -> int:
    if model.num_experts != len(TASKS):
        raise ValueError(
            f"--expert needs {len(TASKS)} experts (one per task), this model has "
            f"{model.num_experts}"
        )
    return task_index(expert)


def exportable(model: nn.Module, expert: str | None = None) -> nn.Module:
    """The module to trace: an eval-mode fused copy of ``model`` (the original is
    untouched), DeMoE wrapped in :class:`DeMoEGraph`. ``expert`` (a task name or alias,
    "auto" for the router) is only valid for DeMoE."""
    if expert == "auto":
        expert = None
    plain = fuse_for_inference(model, channels_last=False)
    if isinstance(model, DeMoE):
        return DeMoEGraph(plain, expert).eval()
    if expert is not None:
        raise ValueError(
            f"--expert selects a DeMoE expert; a {architecture_of(model)} model has none"
        )
    return plain


@dataclass(frozen=True)
class ExportReport:
    """What :func:`export_onnx` wrote and how closely onnxruntime reproduced PyTorch."""

    path: str
    architecture: str
    expert: str | None  # "auto" (the router), a task, or None for a model without experts
    opset: int
    outputs: list[str]
    check_shape: list[int]
    max_abs_diff: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def export_onnx(
    model: nn.Module,
    path: str | Path,
    expert: str | None = None,
    opset: int = DEFAULT_OPSET,
    atol: float = DEFAULT_ATOL,
) -> ExportReport:
    """Export ``model`` to ``path`` as ONNX with dynamic batch, height and width.

    ``model`` is an eval-mode CPU float32 model (as ``load_model`` gives). The file is
    written atomically and only after onnxruntime, run on an input of :data:`CHECK_SHAPE`
    (not the traced :data:`TRACE_SHAPE`), matches ``model``'s own forward
    (:func:`reference_outputs`) within ``atol`` on every output; otherwise ValueError
    and ``path`` is left as it was.
    Inputs: ``input`` (B, C, H, W) float32 in [0, 1]; outputs: ``output`` (same shape),
    and for router-chosen DeMoE experts ``probabilities`` (B, num_exp).
    """
    if model.training:
        raise ValueError("ONNX export needs an eval-mode model (model.eval())")
    arch = architecture_of(model)
    module = exportable(model, expert)
    channels = input_channels(model)
    trace = torch.rand(TRACE_SHAPE[0], channels, *TRACE_SHAPE[2:], generator=_seeded(0))
    check = torch.rand(CHECK_SHAPE[0], channels, *CHECK_SHAPE[2:], generator=_seeded(1))
    expected = reference_outputs(model, check, expert)
    outputs = ["output", "probabilities"][: len(expected)]
    dynamic = torch.export.Dim.DYNAMIC
    traced = torch.export.export(
        module, (trace,), dynamic_shapes=({0: dynamic, 2: dynamic, 3: dynamic},)
    )
    program = torch.onnx.export(
        traced,
        dynamo=True,
        input_names=["input"],
        output_names=outputs,
        opset_version=opset,
        verbose=False,
    )
    for key, value in {"architecture": arch, "config": json.dumps(model.config)}.items():
        program.model.metadata_props[f"demoe.{key}"] = value
    chosen = ("auto" if expert is None else expert) if isinstance(model, DeMoE) else None
    if chosen is not None:
        program.model.metadata_props["demoe.expert"] = chosen
    target = Path(path)
    with atomic_path(target) as tmp:
        program.save(tmp, external_data=False)
        name_dynamic_axes(tmp, INPUT_AXES)
        got = run_onnx(tmp, check)
        diff = max(
            float((torch.from_numpy(g) - e).abs().max()) for g, e in zip(got, expected, strict=True)
        )
        if not diff <= atol:
            raise ValueError(
                f"{target}: onnxruntime differs from PyTorch by {diff:.3g} (> {atol:g}) on a "
                f"{'x'.join(map(str, check.shape))} input; nothing written"
            )
    return ExportReport(str(target), arch, chosen, opset, outputs, list(check.shape), diff)


def name_dynamic_axes(path: Path, names: Sequence[str]) -> None:
    """Rename the input's symbolic dimensions (torch.export's ``s0``, ``s1``, ...) to
    ``names`` (one per axis, "" to keep), in every shape of the ONNX file at ``path``."""
    import onnx

    model = onnx.load(str(path))
    dims = model.graph.input[0].type.tensor_type.shape.dim
    rename = {d.dim_param: n for d, n in zip(dims, names, strict=True) if d.dim_param and n}
    if not rename:
        return
    pattern = re.compile(r"\b(" + "|".join(map(re.escape, rename)) + r")\b")
    for value in (*model.graph.input, *model.graph.output, *model.graph.value_info):
        for dim in value.type.tensor_type.shape.dim:
            if dim.dim_param:
                dim.dim_param = pattern.sub(lambda m: rename[m[1]], dim.dim_param)
    onnx.save(model, str(path))


def reference_outputs(
    model: nn.Module, x: torch.Tensor, expert: str | None = None
) -> tuple[torch.Tensor, ...]:
    """What the exported graph must reproduce, from ``model``'s own forward: the output,
    and for a router-chosen DeMoE the router's probabilities."""
    with torch.inference_mode():
        if not isinstance(model, DeMoE):
            return (model(x),)
        if expert in (None, "auto"):
            aux = model(x, return_aux=True)
            return aux.output, F.softmax(aux.logits, dim=1)
        return (model(x, task=expert),)


def input_channels(model: nn.Module) -> int:
    """The image channels ``model`` takes, from its config (3 if it does not say)."""
    for key in ("img_channel", "inp_channels"):
        if key in model.config:
            return int(model.config[key])
    return 3


def run_onnx(path: str | Path, x: torch.Tensor) -> list[Any]:
    """Every output of the ONNX model at ``path`` on ``x``, by onnxruntime on the CPU."""
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: x.numpy()})


def _seeded(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)
