"""ViP's split attention: the branches of a token mixer summed with per-channel softmax weights.

Shared by Vision Permutator (§3.3, "Weighted Permute-MLP"), DynaMixer (the weighted block its code and §3.3 use) and
CycleMLP (its code's ``CycleMLP`` mixer), which all fuse height, width and channel branches this way.
"""

import torch
from timm.layers import Mlp


class SplitAttention(Mlp):
    """The re-weighting MLP (C → C/4 → ``branches``·C with GELU; output index ``branches·c + k`` for branch k) and
    the sum it weights, ``combine`` (not ``fuse``: timm's ``reparameterize_model`` calls any ``fuse()``). A module,
    not a function taking one: TorchScript passes no modules."""

    def __init__(self, dim: int, branches: int = 3) -> None:
        super().__init__(dim, dim // 4, dim * branches)

    @torch.jit.export
    def combine(self, branches: list[torch.Tensor]) -> torch.Tensor:
        """``Σ_k a_k ⊙ x_k`` with ``a = softmax_k(MLP(mean_{H,W} Σ_k x_k))`` per channel (ViP Eq. 4–5).

        Every branch is channels-last ``[B, H, W, C]``.
        """
        batch, channels = branches[0].shape[0], branches[0].shape[-1]
        total = branches[0]
        for index in range(1, len(branches)):  # indexed, not iterated: a traced (torch.fx) list cannot be iterated
            total = total + branches[index]
        pooled = total.mean(dim=(1, 2))
        weights = self(pooled).reshape(batch, channels, len(branches)).softmax(dim=-1)
        weights = weights.permute(2, 0, 1)[:, :, None, None, :]
        out = branches[0] * weights[0]
        for index in range(1, len(branches)):
            out = out + branches[index] * weights[index]
        return out
