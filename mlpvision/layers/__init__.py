"""Token mixers (one per file, one interface: ``token_mixer.py``), the shared blocks and small layers."""

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
from .token_mixer import Grid, TokenMixer, resize_token_axis
from .token_mlp import TokenMlp

# name -> class, under the operation's name in its paper; drives the mixer contract tests and CLI choices
TOKEN_MIXERS: dict[str, type[TokenMixer]] = {
    "token_mlp": TokenMlp,
    "token_linear": TokenLinear,
    "spatial_gating": SpatialGatingUnit,
    "spatial_shift": SpatialShiftMixer,
    "circulant": CirculantChannelSpecific,
    "weighted_permute_mlp": WeightedPermuteMlp,
    "dyna_mixer": DynaMixer,
    "cycle_mlp": CycleMixer,
    "sparse_mlp": SparseMlp,
    "rep_mlp": RepMlp,
}

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
