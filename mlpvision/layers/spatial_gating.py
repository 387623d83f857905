"""gMLP spatial gating unit."""

import torch
from torch import nn

from .token_mixer import Grid, TokenMixer, resize_token_axis


class SpatialGatingUnit(TokenMixer, name="spatial_gating"):
    """Spatial gating unit: split channels into ``(u, v)``, return ``u ⊙ (W · LN(v) + b)`` over the token axis.

    gMLP, §2.1 (``s(Z) = Z1 ⊙ f_{W,b}(Z2)``), with ``u`` the first half (the bypass) and ``v`` the gated second
    half, as timm. The paper asks for ``W`` near zero and ``b`` one at initialisation, so that the block starts as
    a plain channel MLP. The output has half the input channels.

    Args:
        dim: input channels (the gated MLP's hidden width); the output has ``dim // 2``.
        grid_size: token rows and columns; ``W`` is (N, N) with ``N`` their product.
        norm_layer: the norm on ``v`` (timm: ``nn.LayerNorm`` with its default eps 1e-5).
        device: where to create the parameters (timm's ``GatedMlp`` passes it through).
        dtype: their dtype.
    """

    def __init__(
            self,
            dim: int,
            grid_size: Grid,
            norm_layer: type[nn.Module] = nn.LayerNorm,
            device: torch.device | None = None,
            dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        tokens = grid_size[0] * grid_size[1]
        self.grid_size = tuple(grid_size)
        self.norm = norm_layer(dim // 2, device=device, dtype=dtype)
        self.proj = nn.Linear(tokens, tokens, device=device, dtype=dtype)
        self.init_weights()

    def init_weights(self) -> None:
        nn.init.normal_(self.proj.weight, std=1e-6)
        nn.init.ones_(self.proj.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        u, v = x.chunk(2, dim=-1)
        shape = v.shape
        v = self.norm(v).reshape(shape[0], -1, shape[-1])
        v = torch.baddbmm(self.proj.bias.unsqueeze(-1), self.proj.weight.expand(shape[0], -1, -1), v)
        return u * v.reshape(shape)

    def token_count(self, state: dict[str, torch.Tensor]) -> int | None:
        return state["proj.weight"].shape[1]

    def token_filters(self) -> tuple[torch.Tensor, str]:
        return self.proj.weight.reshape(-1, *self.grid_size), "output tokens of the spatial gating unit"

    def resample_state(
            self, state: dict[str, torch.Tensor], old_grid: Grid, new_grid: Grid
    ) -> dict[str, torch.Tensor]:
        state = dict(state)
        weight = resize_token_axis(state["proj.weight"], 1, old_grid, new_grid, summed=True)
        state["proj.weight"] = resize_token_axis(weight, 0, old_grid, new_grid, summed=False)
        state["proj.bias"] = resize_token_axis(state["proj.bias"], 0, old_grid, new_grid, summed=False)
        return state
