"""ViP's split attention: the branches of a token mixer summed with per-channel softmax weights.

Shared by Vision Permutator (§3.3, "Weighted Permute-MLP"), DynaMixer (the weighted block its code and §3.3 use) and
CycleMLP (its code's ``CycleMLP`` mixer), which all fuse height, width and channel branches this way.
"""

from collections.abc import Sequence

import torch
from timm.layers import Mlp
from torch import nn


def branch_reweighting_mlp(dim: int, branches: int = 3) -> Mlp:
    """The re-weighting MLP: C → C/4 → ``branches``·C with GELU; output index ``branches·c + k`` for branch k."""
    return Mlp(dim, dim // 4, dim * branches)


def split_attention(branches: Sequence[torch.Tensor], reweight: nn.Module) -> torch.Tensor:
    """``Σ_k a_k ⊙ x_k`` with ``a = softmax_k(reweight(mean_{H,W} Σ_k x_k))`` per channel (ViP Eq. 4–5).

    Every branch is channels-last ``[B, H, W, C]``; ``reweight`` maps ``[B, C]`` to ``[B, C·K]``.
    """
    batch, channels = branches[0].shape[0], branches[0].shape[-1]
    total = branches[0]
    for branch in branches[1:]:
        total = total + branch
    pooled = total.mean(dim=(1, 2))
    weights = reweight(pooled).reshape(batch, channels, len(branches)).softmax(dim=-1)
    weights = weights.permute(2, 0, 1)[:, :, None, None, :]
    out = branches[0] * weights[0]
    for index in range(1, len(branches)):  # indexed, not iterated: a traced (torch.fx) tensor cannot be iterated
        out = out + branches[index] * weights[index]
    return out
