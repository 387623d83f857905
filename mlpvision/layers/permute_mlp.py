"""Vision Permutator's weighted Permute-MLP (Hou et al., TPAMI 2022, arXiv 2106.12368, §3.2–3.3, Eq. 3–5)."""

import torch
from torch import nn

from .split_attention import SplitAttention
from .token_mixer import Grid, TokenMixer, resize_token_axis


class WeightedPermuteMlp(TokenMixer, name="weighted_permute_mlp"):
    """Height, width and channel linears fused by split attention, then a projection.

    The height branch views the channels as ``segment_dim`` contiguous segments of ``S = dim / segment_dim``
    channels (the code's layout; the paper's notation groups differently) and mixes, for every column and segment,
    the ``H·S`` values of (row, channel-in-segment), index ``h·S + s``, with one linear shared by all columns and
    segments (no bias); the width branch does the same along rows. The authors' code requires
    ``H = W = segment_dim`` so that ``H·S = dim``; here the linears are ``H·S`` and ``W·S`` wide, so the same
    weights serve that grid and a model built at another ``img_size`` resamples them (``resample_state``).

    Args:
        dim: channels ``C``.
        grid_size: token rows and columns ``(H, W)``.
        segment_dim: number of channel segments (the code's ``segment_dim``; the paper's ``N``).
    """

    example_args = dict(segment_dim=4)

    def __init__(self, dim: int, grid_size: Grid, segment_dim: int) -> None:
        super().__init__()
        if dim % segment_dim:
            raise ValueError(f"segment_dim {segment_dim} must divide the channels {dim}")
        self.grid_size = tuple(grid_size)
        self.segment_dim = segment_dim
        self.segment_size = dim // segment_dim
        height, width = self.grid_size
        self.mlp_h = nn.Linear(height * self.segment_size, height * self.segment_size, bias=False)
        self.mlp_w = nn.Linear(width * self.segment_size, width * self.segment_size, bias=False)
        self.mlp_c = nn.Linear(dim, dim, bias=False)
        self.reweight = SplitAttention(dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, height, width, channels = x.shape
        segments, size = self.segment_dim, self.segment_size
        split = x.reshape(batch, height, width, segments, size)
        # [B, W, g, H·S]: one row of (h, s) per column and segment (W before g: a cheaper copy than the code's order)
        h = split.permute(0, 2, 3, 1, 4).reshape(batch, width, segments, height * size)
        h = self.mlp_h(h).reshape(batch, width, segments, height, size).permute(0, 3, 1, 2, 4)
        # [B, H, g, W·S]: one row of (w, s) per row and segment
        w = split.permute(0, 1, 3, 2, 4).reshape(batch, height, segments, width * size)
        w = self.mlp_w(w).reshape(batch, height, segments, width, size).permute(0, 1, 3, 2, 4)
        c = self.mlp_c(x)
        mixed = self.reweight.combine([h.reshape(x.shape), w.reshape(x.shape), c])
        return self.proj(mixed)

    def token_count(self, state: dict[str, torch.Tensor]) -> int:
        rows, columns = (state[f"mlp_{axis}.weight"].shape[0] // self.segment_size for axis in "hw")
        return rows * columns

    def resample_state(self, state: dict[str, torch.Tensor], old_grid: Grid, new_grid: Grid) -> dict[str, torch.Tensor]:
        """Resize the row axis of ``mlp_h`` and the column axis of ``mlp_w`` (output and input sides)."""
        state = dict(state)
        for key, old, new in (("mlp_h.weight", old_grid[0], new_grid[0]), ("mlp_w.weight", old_grid[1], new_grid[1])):
            size = self.segment_size
            weight = state[key].reshape(old, size, old, size)
            weight = resize_token_axis(weight, 0, (old, 1), (new, 1), summed=False)
            weight = resize_token_axis(weight, 2, (old, 1), (new, 1), summed=True)
            state[key] = weight.reshape(new * size, new * size)
        return state
