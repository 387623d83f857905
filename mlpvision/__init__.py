"""mlpvision: MLP-based vision backbones exact to their papers, registered in timm under ``mlpv_*`` names."""

from typing import Any

import timm
from torch import nn

from . import models
from .models import PREFIX

__version__ = "0.1.0"


def create_model(model_name: str, pretrained: bool = False, **kwargs: Any) -> nn.Module:
    """``timm.create_model`` for any mlpvision (``mlpv_*``) or timm name."""
    return timm.create_model(model_name, pretrained=pretrained, **kwargs)


def list_models(filter: str = f"{PREFIX}*", pretrained: bool = False) -> list[str]:
    """mlpvision model names matching a wildcard ``filter`` (default: all of them)."""
    if not filter.startswith(PREFIX):
        filter = PREFIX + filter.lstrip("*") if filter.startswith("*") else filter
    return [name for name in timm.list_models(filter, pretrained=pretrained) if name.startswith(PREFIX)]


__all__ = ["PREFIX", "__version__", "create_model", "list_models", "models"]
