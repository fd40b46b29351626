"""demoe: reproduce "Towards Unified Image Deblurring using a Mixture-of-Experts Decoder"
(DeMoE; Feijoo et al., arXiv 2508.06228)."""

from demoe.io.checkpoint import read_state_dict
from demoe.models import DeMoE, NAFNet, create_model
from demoe.models.checkpoint import load_model, save_model
from demoe.tasks import AIO_BLUR, AIO_BLUR_OOD, DATASETS, TASKS

__version__ = "0.1.0"

__all__ = [
    "AIO_BLUR",
    "AIO_BLUR_OOD",
    "DATASETS",
    "TASKS",
    "DeMoE",
    "NAFNet",
    "create_model",
    "load_model",
    "read_state_dict",
    "save_model",
]
