"""ResMLP cross-patch linear layer."""

import torch
from torch import nn

from .token_mixer import Grid, TokenMixer, resize_token_axis


class TokenLinear(TokenMixer, name="token_linear"):
    """Cross-patch sublayer: one linear map ``A · X + b`` over the token axis, shared across channels.

    ResMLP, Eq. 2 (``Z = X + LS ⊙ (A · Aff(X)ᵀ)ᵀ``; the block owns the affine norm, layer scale and residual).
    The product is taken as ``A @ X`` on the (B, N, C) token matrix, so no transpose is materialised.

    Args:
        dim: channels (unused by the computation, kept for the interface).
        grid_size: token rows and columns; ``A`` is (N, N) with ``N`` their product.
    """

    def __init__(self, dim: int, grid_size: Grid) -> None:
        super().__init__()
        tokens = grid_size[0] * grid_size[1]
        self.grid_size = tuple(grid_size)
        self.weight = nn.Parameter(torch.empty(tokens, tokens))
        self.bias = nn.Parameter(torch.zeros(tokens))
        nn.init.trunc_normal_(self.weight, std=0.02)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shape = x.shape
        tokens = x.reshape(shape[0], -1, shape[-1])
        out = torch.baddbmm(self.bias.unsqueeze(-1), self.weight.expand(shape[0], -1, -1), tokens)
        return out.reshape(shape)

    def token_count(self, state: dict[str, torch.Tensor]) -> int | None:
        return state["weight"].shape[1]

    def token_filters(self) -> tuple[torch.Tensor, str]:
        return self.weight.reshape(-1, *self.grid_size), "output tokens of the token linear"

    def resample_state(
            self, state: dict[str, torch.Tensor], old_grid: Grid, new_grid: Grid
    ) -> dict[str, torch.Tensor]:
        weight = resize_token_axis(state["weight"], 1, old_grid, new_grid, summed=True)
        return {
            "weight": resize_token_axis(weight, 0, old_grid, new_grid, summed=False),
            "bias": resize_token_axis(state["bias"], 0, old_grid, new_grid, summed=False),
        }
