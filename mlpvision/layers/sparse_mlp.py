"""sMLPNet's sparse MLP token mixer (Tang et al., AAAI 2022, arXiv 2109.05422, §3.2, Alg. 1)."""

import torch
import torch.nn.functional as F
from torch import nn

from .token_mixer import Grid, TokenMixer, resize_token_axis


class SparseMlp(TokenMixer, name="sparse_mlp"):
    """Sparse MLP: each token mixes with its row and its column only, then a 1×1 convolution fuses the three maps.

    sMLPNet, Alg. 1: ``X_W = X W_Wᵀ + b_W`` mixes along the width axis (one ``W×W`` matrix shared by every row and
    channel), ``X_H = W_H X + b_H`` along the height axis (one ``H×H`` matrix), and
    ``out = Fuse(concat[X, X_W, X_H])`` with ``Fuse`` a bias-free 1×1 convolution from ``3·C`` to ``C``. The concat
    order is the authors' code's (the paper's Alg. 1 writes ``[X_H, X_W, X]``), so their ``fuse`` weights load
    unchanged, as ``fusion`` (timm's ``reparameterize_model`` calls any child attribute named ``fuse``). The
    pre-activation (BatchNorm, GELU) belongs to the block. Tensors are NCHW ``[B, C, H, W]``.

    Args:
        dim: channels.
        grid_size: token rows ``H`` and columns ``W``: the sizes of the two mixing matrices (they may differ).
    """

    layout = "NCHW"

    def __init__(self, dim: int, grid_size: Grid) -> None:
        super().__init__()
        self.grid_size = tuple(grid_size)
        self.mix_width = nn.Linear(grid_size[1], grid_size[1])
        self.mix_height = nn.Linear(grid_size[0], grid_size[0])
        self.fusion = nn.Conv2d(3 * dim, dim, kernel_size=1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        along_width = self.mix_width(x)
        along_height = F.linear(x.transpose(-1, -2), self.mix_height.weight, self.mix_height.bias).transpose(-1, -2)
        return self.fusion(torch.cat([x, along_width, along_height], dim=1))

    def token_count(self, state: dict[str, torch.Tensor]) -> int | None:
        return state["mix_height.weight"].shape[0] * state["mix_width.weight"].shape[0]

    def resample_state(
            self, state: dict[str, torch.Tensor], old_grid: Grid, new_grid: Grid
    ) -> dict[str, torch.Tensor]:
        """Each mixing matrix (input axis summed) and bias resized along its own axis, bicubic as a 1×n image."""
        out = dict(state)
        for name, axis in (("mix_height", 0), ("mix_width", 1)):
            old, new = (1, old_grid[axis]), (1, new_grid[axis])
            weight = resize_token_axis(state[f"{name}.weight"], 1, old, new, summed=True)
            out[f"{name}.weight"] = resize_token_axis(weight, 0, old, new, summed=False)
            out[f"{name}.bias"] = resize_token_axis(state[f"{name}.bias"], 0, old, new, summed=False)
        return out
