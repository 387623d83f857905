"""Training on Lightning: configuration and recipes, the LightningModule, checkpoints, and train()."""

from .config import RECIPES, TrainConfig, resolve_config
from .run import train

__all__ = ["RECIPES", "TrainConfig", "resolve_config", "train"]
