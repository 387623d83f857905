"""Token mixers (one per file, one contract: ``token_mixer.TokenMixer``), the shared blocks and small layers.

Every module of this folder is imported here, so each mixer file registers its mixer in ``TOKEN_MIXERS`` by being
there; the names below are the ones the families import.
"""

import importlib
import pkgutil

from .affine import Affine
from .blocks import GatedBlock, MetaFormerBlock
from .circulant import CirculantChannelSpecific
from .conv_embed import ConvEmbed
from .cycle_fc import CycleFC, CycleMixer
from .dyna_mixer import DynaMixer
from .permute_mlp import WeightedPermuteMlp
from .rep_mlp import RepMlp
from .sparse_mlp import SparseMlp
from .spatial_gating import SpatialGatingUnit
from .spatial_shift import SpatialShiftMixer
from .token_linear import TokenLinear
from .token_mixer import TOKEN_MIXERS, Grid, Layout, TokenMixer, resize_token_axis
from .token_mlp import TokenMlp

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")

__all__ = [
    "TOKEN_MIXERS",
    "Affine",
    "CirculantChannelSpecific",
    "ConvEmbed",
    "CycleFC",
    "CycleMixer",
    "DynaMixer",
    "GatedBlock",
    "Grid",
    "Layout",
    "MetaFormerBlock",
    "RepMlp",
    "SparseMlp",
    "SpatialGatingUnit",
    "SpatialShiftMixer",
    "TokenLinear",
    "TokenMixer",
    "TokenMlp",
    "WeightedPermuteMlp",
    "resize_token_axis",
]
