"""mlpvision: MLP-based vision backbones exact to their papers, registered in timm under ``mlpv_*`` names."""

from typing import Any

import timm
from torch import nn

from . import models
from .models import PREFIX, list_models

__version__ = "0.1.0"


def create_model(model_name: str, pretrained: bool = False, **kwargs: Any) -> nn.Module:
    """``timm.create_model`` for any mlpvision (``mlpv_*``) or timm name."""
    return timm.create_model(model_name, pretrained=pretrained, **kwargs)


__all__ = ["PREFIX", "__version__", "create_model", "list_models", "models"]
