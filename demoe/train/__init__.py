"""Training (paper Sec. 3.3): the trainer, configs, the two stages and every experiment.

``demoe.train.loop.train(config)`` runs one :class:`~demoe.train.config.TrainConfig`;
``demoe.train.experiments.EXPERIMENTS`` names every model the paper trains.
"""

from demoe.train.config import TrainConfig, from_dict, load_config
from demoe.train.experiments import EXPERIMENTS, Experiment, resolve_config

__all__ = ["EXPERIMENTS", "Experiment", "TrainConfig", "from_dict", "load_config", "resolve_config"]
