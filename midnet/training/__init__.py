"""Training and fine-tuning on paired micrographs.

config.py     the typed run config (:class:`TrainConfig`) and its sections
overrides.py  YAML + ``--set`` -> config (:func:`load_config`), resume checks
network.py    the network and its first weights (a preset, a file, or a preset's shipped weights)
dataset.py    the pairs, split by micrograph, loaded with progress
checkpoint.py one consistent checkpoint unit per save; :func:`trained_on` (midnet/models/zoo.py)
loop.py       :func:`train`: the loop, signals, logging, DDP (distributed.py, signals.py, metrics_log.py)
step.py       one optimizer step on the schedule (training's and fine-tuning's)
schedule.py   the cosine learning-rate schedule (training's and fine-tuning's)
finetune.py   ``midnet finetune``: a held-out part, early stopping, a time cap, on the pieces above

May import: every core package below it (``midnet.errors``, ``choices``, ``images``, ``models``,
``inference``, ``data``, ``quality``).
"""

from ..models.weights import TRAINED_ON_KEY
from ..models.zoo import trained_on
from .checkpoint import Checkpoint
from .config import DataSection, ModelSection, OptimSection, TrainConfig, dump_config
from .loop import train
from .network import build_network, read_init_weights
from .overrides import ConfigUsageError, check_resume_config, load_config
from .step import supervise, training_step

__all__ = [
    "TRAINED_ON_KEY", "Checkpoint", "ConfigUsageError", "DataSection", "ModelSection", "OptimSection", "TrainConfig",
    "build_network", "check_resume_config", "dump_config", "load_config", "read_init_weights", "supervise",
    "train", "trained_on", "training_step",
]
