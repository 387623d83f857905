"""Data: the embedded digits, image folders and CIFAR, read without downloads, transformed through timm."""

from .datamodule import ImageDataModule
from .sources import Splits, load_splits
from .transforms import build_transforms, data_config, train_options

__all__ = ["ImageDataModule", "Splits", "build_transforms", "data_config", "load_splits", "train_options"]
