"""The two residual blocks most MLP families are built from; a block's tensor layout is its token mixer's."""

from typing import ClassVar

import torch
from timm.layers import DropPath
from torch import nn

from .token_mixer import Layout, TokenMixer

# where the channels are, so that a per-channel scale multiplies channels in either layout
_CHANNEL_SHAPE = {"NHWC": lambda dim: (dim,), "NCHW": lambda dim: (dim, 1, 1)}


def _layer_scale(dim: int, init: float | None, layout: Layout) -> nn.Parameter | None:
    return nn.Parameter(torch.full(_CHANNEL_SHAPE[layout](dim), init)) if init is not None else None


class MetaFormerBlock(nn.Module):
    """``x = x + DropPath(LS₁ ⊙ TokenMixer(Norm₁(x)))``; ``x = x + DropPath(LS₂ ⊙ Mlp(Norm₂(x)))``.

    MetaFormer, Eq. 1–3; it is MLP-Mixer's block (Eq. 1) with a token MLP and no layer scale, and ResMLP's
    (Eq. 2–3 as in its code) with a token linear, affine norms and layer scale. The block takes the token mixer's
    ``layout``: channels-last ``[B, H, W, C]`` (or ``[B, N, C]``) with norms and an MLP over the last axis, or
    NCHW ``[B, C, H, W]`` with norms and an MLP over axis 1 (RepMLPNet's BatchNorm and 1×1 convolutions); the layer
    scales are shaped to multiply the channels in that layout, ``(C,)`` or ``(C, 1, 1)``.

    Args:
        dim: channels.
        token_mixer: the token mixer (a ``TokenMixer``).
        mlp: the channel MLP, in the mixer's layout.
        norm_layer: builds ``Norm₁`` and ``Norm₂`` from ``dim``, in the mixer's layout.
        layer_scale_init: initial value of the per-channel layer scales, or ``None`` for none.
        drop_path: stochastic-depth rate of both branches.
    """

    def __init__(
            self,
            dim: int,
            token_mixer: nn.Module,
            mlp: nn.Module,
            norm_layer: type[nn.Module],
            layer_scale_init: float | None = None,
            drop_path: float = 0.0,
    ) -> None:
        super().__init__()
        if not isinstance(token_mixer, TokenMixer):
            raise TypeError(
                f"{type(token_mixer).__name__} is not a TokenMixer: the block takes its tensor layout from the mixer"
            )
        self.layout: Layout = token_mixer.layout
        self.norm1 = norm_layer(dim)
        self.token_mixer = token_mixer
        self.ls1 = _layer_scale(dim, layer_scale_init, self.layout)
        self.drop_path1 = DropPath(drop_path) if drop_path > 0 else nn.Identity()
        self.norm2 = norm_layer(dim)
        self.mlp = mlp
        self.ls2 = _layer_scale(dim, layer_scale_init, self.layout)
        self.drop_path2 = DropPath(drop_path) if drop_path > 0 else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mixed = self.token_mixer(self.norm1(x))
        x = x + self.drop_path1(mixed if self.ls1 is None else mixed * self.ls1)
        channel = self.mlp(self.norm2(x))
        return x + self.drop_path2(channel if self.ls2 is None else channel * self.ls2)


class GatedBlock(nn.Module):
    """gMLP's single residual branch: ``x = x + DropPath(GatedMlp(Norm(x)))``, the token mixing inside the gate.

    gMLP, Fig. 1: ``Z = σ(XU)``, ``Z̃ = s(Z)`` (the spatial gating unit), ``Y = Z̃V``, plus the shortcut.

    Args:
        dim: channels.
        mlp: the gated MLP (``timm.layers.GatedMlp`` with a spatial gating unit as its ``gate_layer``).
        norm_layer: builds the pre-norm from ``dim``.
        drop_path: stochastic-depth rate.
    """

    layout: ClassVar[Layout] = "NHWC"

    def __init__(self, dim: int, mlp: nn.Module, norm_layer: type[nn.Module], drop_path: float = 0.0) -> None:
        super().__init__()
        self.norm = norm_layer(dim)
        self.mlp = mlp
        self.drop_path = DropPath(drop_path) if drop_path > 0 else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.drop_path(self.mlp(self.norm(x)))
