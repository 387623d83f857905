"""DynaMixer's dynamic token mixing (Wang et al., ICML 2022, arXiv 2201.12083, §3.2–3.3, Eq. 2–9)."""

import math

import torch
from torch import nn

from .split_attention import SplitAttention
from .token_mixer import Grid, TokenMixer, resize_token_axis


class DynaMixerOperation(nn.Module):
    """Mix a sequence of N tokens with a matrix generated from its content (Eq. 2–7).

    Per segment s: ``X̂ = X·W_d⁽ˢ⁾`` reduces each token to ``reduced_dim`` values (``compress``, all segments at
    once, from the full token); ``P⁽ˢ⁾ = softmax(flat(X̂⁽ˢ⁾)·W)`` with one ``generate`` linear shared by the
    segments, normalised over the input tokens for each output token (the code's ``Softmax(dim=-2)``); the
    segment's ``dim / num_heads`` channels are mixed as ``Y[j] = Σ_i P[i, j]·X[i]``; ``out`` projects the
    concatenated segments.

    Args:
        dim: channels ``D``.
        seq_len: tokens per sequence ``N``.
        num_heads: segments ``S``.
        reduced_dim: ``d``.
    """

    def __init__(self, dim: int, seq_len: int, num_heads: int, reduced_dim: int) -> None:
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"num_heads {num_heads} must divide the channels {dim}")
        self.seq_len, self.num_heads, self.reduced_dim = seq_len, num_heads, reduced_dim
        self.compress = nn.Linear(dim, num_heads * reduced_dim)
        self.generate = nn.Linear(seq_len * reduced_dim, seq_len * seq_len)
        self.out = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``[B, N, D]`` → ``[B, N, D]``."""
        batch, tokens, channels = x.shape
        heads = self.num_heads
        reduced = self.compress(x).reshape(batch, tokens, heads, self.reduced_dim).transpose(1, 2)
        mixing = self.generate(reduced.reshape(batch, heads, -1)).reshape(batch, heads, tokens, tokens)
        mixing = mixing.softmax(dim=-2)  # [B, S, input token i, output token j]
        segments = x.reshape(batch, tokens, heads, channels // heads).permute(0, 2, 3, 1)
        mixed = torch.matmul(segments, mixing)  # [B, S, D/S, j]
        return self.out(mixed.permute(0, 3, 1, 2).reshape(batch, tokens, channels))

    def resample_sequence(self, state: dict[str, torch.Tensor], old_len: int, new_len: int) -> dict[str, torch.Tensor]:
        """Resize ``generate`` along its three token axes: input i, output j (its rows) and the reduced tokens."""
        old, new, reduced = (old_len, 1), (new_len, 1), self.reduced_dim
        weight = state["generate.weight"].reshape(old_len, old_len, old_len, reduced)
        weight = resize_token_axis(weight, 0, old, new, summed=False)
        weight = resize_token_axis(weight, 1, old, new, summed=False)
        weight = resize_token_axis(weight, 2, old, new, summed=True)
        bias = state["generate.bias"].reshape(old_len, old_len)
        bias = resize_token_axis(resize_token_axis(bias, 0, old, new, summed=False), 1, old, new, summed=False)
        return {**state, "generate.weight": weight.reshape(new_len * new_len, new_len * reduced),
                "generate.bias": bias.reshape(-1)}


class DynaMixer(TokenMixer, name="dyna_mixer"):
    """The DynaMixer block's token mixer: dynamic mixing along columns and rows, a channel linear, split attention.

    ``mix_h`` mixes each column's H tokens and ``mix_w`` each row's W tokens (two separate operations, each
    shared by all columns / rows); ``mlp_c`` is a channel linear without bias; the three branches are fused with
    ViP's split attention, then ``proj`` (the weighted block, which the paper uses by default and its code
    implements; Eq. 9 shows the plain sum).

    Args:
        dim: channels.
        grid_size: token rows and columns ``(H, W)``.
        num_heads: segments per dynamic mixing.
        reduced_dim: reduced token width ``d``.
    """

    example_args = dict(num_heads=4, reduced_dim=2)

    def __init__(self, dim: int, grid_size: Grid, num_heads: int, reduced_dim: int) -> None:
        super().__init__()
        self.grid_size = tuple(grid_size)
        self.mix_h = DynaMixerOperation(dim, self.grid_size[0], num_heads, reduced_dim)
        self.mix_w = DynaMixerOperation(dim, self.grid_size[1], num_heads, reduced_dim)
        self.mlp_c = nn.Linear(dim, dim, bias=False)
        self.reweight = SplitAttention(dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, height, width, channels = x.shape
        columns = x.transpose(1, 2).reshape(batch * width, height, channels)
        h = self.mix_h(columns).reshape(batch, width, height, channels).transpose(1, 2)
        w = self.mix_w(x.reshape(batch * height, width, channels)).reshape(x.shape)
        return self.proj(self.reweight.combine([h, w, self.mlp_c(x)]))

    def token_count(self, state: dict[str, torch.Tensor]) -> int:
        return math.isqrt(state["mix_h.generate.bias"].numel()) * math.isqrt(state["mix_w.generate.bias"].numel())

    def resample_state(self, state: dict[str, torch.Tensor], old_grid: Grid, new_grid: Grid) -> dict[str, torch.Tensor]:
        state = dict(state)
        for name, operation, old, new in (("mix_h", self.mix_h, old_grid[0], new_grid[0]),
                                          ("mix_w", self.mix_w, old_grid[1], new_grid[1])):
            own = {key.removeprefix(f"{name}."): value for key, value in state.items() if key.startswith(f"{name}.")}
            for key, value in operation.resample_sequence(own, old, new).items():
                state[f"{name}.{key}"] = value
        return state
