"""Model architectures: NAFNet, DeMoE and their parts, plus named presets."""

from demoe.models.demoe import DeMoE, DeMoEOutput
from demoe.models.ensemble import TaskEnsemble
from demoe.models.layers import LayerNorm2d, NAFBlock, SimpleGate
from demoe.models.moe import MoEBlock
from demoe.models.nafnet import NAFNet, nafnet_from_expert
from demoe.models.registry import PRESETS, build_model, create_model, model_config
from demoe.models.router import Router

__all__ = [
    "PRESETS",
    "DeMoE",
    "DeMoEOutput",
    "LayerNorm2d",
    "MoEBlock",
    "NAFBlock",
    "NAFNet",
    "Router",
    "SimpleGate",
    "TaskEnsemble",
    "build_model",
    "create_model",
    "model_config",
    "nafnet_from_expert",
]
