"""Training (paper Sec. 3.4): the trainer, its configs and the two stages.

``demoe.train.loop.train(config)`` runs one :class:`~demoe.train.config.TrainConfig`; the
models the paper trains are named in :mod:`demoe.experiments`.
"""

from demoe.train.config import TrainConfig, from_dict, load_config

__all__ = ["TrainConfig", "from_dict", "load_config"]
