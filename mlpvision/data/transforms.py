"""Pre-processing from the model's ``pretrained_cfg`` through timm, at any input size."""

from typing import Any

import timm.data
from PIL import Image
from timm.data import auto_augment
from timm.layers import to_2tuple
from torch import nn

_timm_posterize = auto_augment.posterize


def _posterize(img: Image.Image, bits_to_keep: int, **kwargs: Any) -> Image.Image:
    """timm's posterize, keeping 0 bits as a black image itself: RandAugment's increasing policies (DeiT's
    ``rand-m9-mstd0.5-inc1``) ask for 0 bits at high magnitude, which Pillow >= 13 rejects with a ValueError."""
    if bits_to_keep <= 0:
        return Image.new(img.mode, img.size)
    return _timm_posterize(img, bits_to_keep, **kwargs)


for _name in ("Posterize", "PosterizeIncreasing", "PosterizeOriginal"):
    auto_augment.NAME_TO_OP[_name] = _posterize


def data_config(model: nn.Module, img_size: int | tuple[int, int] | None) -> dict[str, Any]:
    """timm's resolved data config (mean, std, interpolation, crop) at ``img_size`` (a side or (H, W); default: the
    size the model was built for, which may differ from its ``pretrained_cfg``'s, non-square included)."""
    size = tuple(to_2tuple(img_size)) if img_size else tuple(getattr(model, "img_size", ()) or ())
    args = {"input_size": (3, *size)} if size else {}
    config = timm.data.resolve_data_config(args, model=model)
    if min(config["input_size"][1:]) < 32:  # tiny images: resize straight to the input, no centre crop
        config["crop_pct"] = 1.0
    return config


def build_transforms(config: dict[str, Any], train_options: dict[str, Any]) -> tuple[Any, Any]:
    """(train, eval) transforms: timm's training pipeline with the recipe's augmentation, and its eval pipeline."""
    train = timm.data.create_transform(**config, is_training=True, **train_options)
    evaluation = timm.data.create_transform(**config, is_training=False)
    return train, evaluation


def train_options(config: Any) -> dict[str, Any]:
    """The training configuration's augmentation settings as ``timm.data.create_transform`` keywords."""
    return dict(scale=config.scale, ratio=config.ratio, hflip=config.hflip, auto_augment=config.aa,
                color_jitter=config.color_jitter, re_prob=config.reprob)
