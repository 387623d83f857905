"""The one call into timm's ``build_model_with_cfg`` and the ``pretrained_cfg`` defaults."""

from typing import Any

from timm.data import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD
from timm.models import build_model_with_cfg
from torch import nn

from ._registry import PREFIX
from ._weights import CheckpointFilter

INCEPTION_MEAN_STD = dict(mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))
IMAGENET_MEAN_STD = dict(mean=IMAGENET_DEFAULT_MEAN, std=IMAGENET_DEFAULT_STD)


def model_cfg(
        *,
        paper_name: str,
        arxiv: str,
        code_url: str,
        license: str,
        count_source: str,
        mean_std: dict[str, tuple[float, float, float]],
        crop_pct: float = 0.875,
        interpolation: str = "bicubic",
        input_size: tuple[int, int, int] = (3, 224, 224),
        **kwargs: Any,
) -> dict[str, Any]:
    """A ``pretrained_cfg`` dict: pre-processing, classifier, paper and code links, licence, weight location.

    ``custom_load="hf"`` routes every weight source (hub, URL, ``file=``) through the model's
    ``load_pretrained``, which reads every checkpoint layout we support. Weights on the hub are named by
    ``hf_hub_id`` (a full ``org/name.tag`` id) and ``hf_hub_filename``.
    """
    cfg = dict(
        url="", num_classes=1000, input_size=input_size, pool_size=None, crop_pct=crop_pct,
        interpolation=interpolation, fixed_input_size=True, first_conv="stem.proj", classifier="head",
        license=license, paper_name=paper_name, paper_ids=f"arXiv:{arxiv}", origin_url=code_url,
        notes=(f"parameter count source: {count_source}",), custom_load="hf", hf_hub_filename="model.safetensors",
        **mean_std,
    )
    return {**cfg, **kwargs}


def google_drive_url(file_id: str, filename: str) -> tuple[str, str]:
    """A Google Drive file as a ``pretrained_cfg`` ``url``: Drive's direct-download address and the file name
    timm caches it under (timm accepts a ``(url, filename)`` pair; Drive's address alone has no file name)."""
    return f"https://drive.usercontent.google.com/download?id={file_id}&export=download&confirm=t", filename


def build_model(
        model_cls: type[nn.Module],
        variant: str,
        pretrained: bool,
        checkpoint_filter: CheckpointFilter | None,
        default_out_indices: int | tuple[int, ...] = 3,
        **kwargs: Any,
) -> nn.Module:
    """Build ``variant`` through timm (pretrained_cfg, weights, ``features_only``) with the family's filter.

    ``features_only=True`` returns the feature maps at ``out_indices`` (default ``default_out_indices``: the last
    three blocks of an isotropic model, every stage of a multi-stage one).
    """
    if not variant.startswith(PREFIX):
        raise ValueError(f"mlpvision model names start with {PREFIX!r}: {variant!r}")
    out_indices = kwargs.pop("out_indices", default_out_indices)
    if kwargs.get("pretrained_cfg_overlay"):
        # timm resets custom_load when an overlay names a weight source (file=, url=); ours reads every layout
        # (our safetensors, timm's, the authors' .pth and .npz) with strict checks, so it stays in charge.
        kwargs["pretrained_cfg_overlay"] = {"custom_load": "hf", **kwargs["pretrained_cfg_overlay"]}
    return build_model_with_cfg(
        model_cls,
        variant,
        pretrained,
        pretrained_filter_fn=checkpoint_filter,
        feature_cfg=dict(out_indices=out_indices, feature_cls="getter"),
        checkpoint_filter=checkpoint_filter,
        **kwargs,
    )
