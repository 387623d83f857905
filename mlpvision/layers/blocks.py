"""The two residual blocks every isotropic MLP family is built from."""

import torch
from timm.layers import DropPath
from torch import nn


def _layer_scale(dim: int, init: float | None) -> nn.Parameter | None:
    return nn.Parameter(torch.full((dim,), init)) if init is not None else None


class MetaFormerBlock(nn.Module):
    """``x = x + DropPath(LS₁ ⊙ TokenMixer(Norm₁(x)))``; ``x = x + DropPath(LS₂ ⊙ Mlp(Norm₂(x)))``.

    MetaFormer, Eq. 1–3; it is MLP-Mixer's block (Eq. 1) with a token MLP and no layer scale, and ResMLP's
    (Eq. 2–3 as in its code) with a token linear, affine norms and layer scale. Tensors are channels-last
    ``[B, H, W, C]`` (or ``[B, N, C]``: the block itself only acts on the last axis).

    Args:
        dim: channels.
        token_mixer: the token-mixing module (see ``token_mixer.py``).
        mlp: the channel MLP.
        norm_layer: builds ``Norm₁`` and ``Norm₂`` from ``dim``.
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
        self.norm1 = norm_layer(dim)
        self.token_mixer = token_mixer
        self.ls1 = _layer_scale(dim, layer_scale_init)
        self.drop_path1 = DropPath(drop_path) if drop_path > 0 else nn.Identity()
        self.norm2 = norm_layer(dim)
        self.mlp = mlp
        self.ls2 = _layer_scale(dim, layer_scale_init)
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

    def __init__(self, dim: int, mlp: nn.Module, norm_layer: type[nn.Module], drop_path: float = 0.0) -> None:
        super().__init__()
        self.norm = norm_layer(dim)
        self.mlp = mlp
        self.drop_path = DropPath(drop_path) if drop_path > 0 else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.drop_path(self.mlp(self.norm(x)))
