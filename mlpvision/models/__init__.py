"""Model families, one file each; importing a family file registers its variants in timm's registry."""

from . import ccs, cyclemlp, dynamixer, ffonly, gmlp, mixer, repmlpnet, resmlp, s2mlp, smlpnet, vip
from ._backbone import MlpBackbone
from ._builder import PREFIX
from ._download import WeightsDownloadError
from ._hierarchical import HierarchicalBackbone
from ._weights import CheckpointMismatchError, UnreadableCheckpointError, read_checkpoint, save_weights

FAMILIES = ("mixer", "resmlp", "gmlp", "ffonly", "ccs", "s2mlp", "vip", "dynamixer", "cyclemlp", "smlpnet",
            "repmlpnet")

__all__ = [
    "FAMILIES",
    "PREFIX",
    "CheckpointMismatchError",
    "HierarchicalBackbone",
    "MlpBackbone",
    "UnreadableCheckpointError",
    "WeightsDownloadError",
    "ccs",
    "cyclemlp",
    "dynamixer",
    "ffonly",
    "gmlp",
    "mixer",
    "read_checkpoint",
    "repmlpnet",
    "resmlp",
    "s2mlp",
    "save_weights",
    "smlpnet",
    "vip",
]
