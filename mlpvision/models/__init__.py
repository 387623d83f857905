"""Model families, one file each; importing a family file registers its variants in timm's registry."""

from . import ccs, ffonly, gmlp, mixer, resmlp, s2mlp
from ._backbone import MlpBackbone
from ._builder import PREFIX
from ._weights import CheckpointMismatchError, read_checkpoint, save_weights

FAMILIES = ("mixer", "resmlp", "gmlp", "ffonly", "ccs", "s2mlp")

__all__ = [
    "FAMILIES",
    "PREFIX",
    "CheckpointMismatchError",
    "MlpBackbone",
    "ccs",
    "ffonly",
    "gmlp",
    "mixer",
    "read_checkpoint",
    "resmlp",
    "s2mlp",
    "save_weights",
]
