"""MLP-Mixer token-mixing MLP."""

import torch
from torch import nn

from .token_mixer import Grid, TokenMixer, resize_token_axis


class TokenMlp(TokenMixer, name="token_mlp"):
    """Token-mixing MLP shared across channels: ``W2 · GELU(W1 · X + b1) + b2`` over the token axis.

    MLP-Mixer, Eq. 1 (first line, without the norm and residual the block owns). The weights keep
    ``nn.Linear``'s (out, in) layout, but the product is taken as ``W @ X`` on the (B, N, C) token matrix, so no
    transpose of the activations is materialised.

    Args:
        dim: channels (unused by the computation, kept for the interface).
        grid_size: token rows and columns; the MLP acts on their product ``N``.
        hidden_features: hidden width ``D_S`` (Mixer: ``0.5 * dim``).
        num_prefix_tokens: non-spatial tokens (a class token) also mixed, placed before the grid.
        act_layer: activation (Mixer: exact GELU, as every PyTorch port; Flax uses the tanh approximation).
        drop: dropout after the activation and after the output.
    """

    example_args = dict(hidden_features=8)

    def __init__(
            self,
            dim: int,
            grid_size: Grid,
            hidden_features: int,
            num_prefix_tokens: int = 0,
            act_layer: type[nn.Module] = nn.GELU,
            drop: float = 0.0,
    ) -> None:
        super().__init__()
        tokens = num_prefix_tokens + grid_size[0] * grid_size[1]
        self.grid_size = tuple(grid_size)
        self.num_prefix_tokens = num_prefix_tokens
        self.fc1 = nn.Linear(tokens, hidden_features)
        self.act = act_layer()
        self.drop1 = nn.Dropout(drop)
        self.fc2 = nn.Linear(hidden_features, tokens)
        self.drop2 = nn.Dropout(drop)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shape = x.shape
        tokens = x.reshape(shape[0], -1, shape[-1])  # [B, N, C]
        hidden = torch.baddbmm(self.fc1.bias.unsqueeze(-1), self.fc1.weight.expand(shape[0], -1, -1), tokens)
        hidden = self.drop1(self.act(hidden))
        out = torch.baddbmm(self.fc2.bias.unsqueeze(-1), self.fc2.weight.expand(shape[0], -1, -1), hidden)
        return self.drop2(out).reshape(shape)

    def token_count(self, state: dict[str, torch.Tensor]) -> int | None:
        return state["fc1.weight"].shape[1] - self.num_prefix_tokens

    def token_filters(self) -> tuple[torch.Tensor, str]:
        return self.fc1.weight[:, self.num_prefix_tokens:].reshape(-1, *self.grid_size), "hidden units of the token MLP"

    def resample_state(
            self, state: dict[str, torch.Tensor], old_grid: Grid, new_grid: Grid
    ) -> dict[str, torch.Tensor]:
        p = self.num_prefix_tokens
        state = dict(state)
        state["fc1.weight"] = resize_token_axis(state["fc1.weight"], 1, old_grid, new_grid, True, p)
        state["fc2.weight"] = resize_token_axis(state["fc2.weight"], 0, old_grid, new_grid, False, p)
        state["fc2.bias"] = resize_token_axis(state["fc2.bias"], 0, old_grid, new_grid, False, p)
        return state

