"""Model families, one file each; importing a family file registers its variants in timm's registry.

The families are found in this folder (``_registry.FAMILIES``) and imported here, as timm's ``models/__init__.py``
imports its model files.
"""

import importlib

from ._backbone import MlpBackbone, MlpStage
from ._download import WeightsDownloadError
from ._registry import FAMILIES, PREFIX, check_model_name, family_of, list_models
from ._weights import CheckpointMismatchError, UnreadableCheckpointError, read_checkpoint, save_weights

for _family in FAMILIES:
    importlib.import_module(f"{__name__}.{_family}")

__all__ = [
    "FAMILIES",
    "PREFIX",
    "CheckpointMismatchError",
    "MlpBackbone",
    "MlpStage",
    "UnreadableCheckpointError",
    "WeightsDownloadError",
    "check_model_name",
    "family_of",
    "list_models",
    "read_checkpoint",
    "save_weights",
]
