"""The token-mixer interface, written down once, and the resampling helper every mixer uses.

A token mixer is the only part of a MetaFormer block that differs between MLP families (MetaFormer, Eq. 2).
Every mixer in ``mlpvision.layers`` follows this contract:

* constructor: ``dim`` (channels) and ``grid_size`` (token rows, columns) as keywords, plus the mixer's own
  paper hyper-parameters as typed keywords with the paper's names; a mixer that does not need ``grid_size``
  accepts it and says so in its docstring;
* forward: one channels-last tensor ``[B, H, W, C]`` in, the same shape out; it is the token-mixing term only,
  the block owns the norm, residual, layer scale and drop path; a mixer of a convolutional (NCHW) family says so
  with a class attribute ``layout = "NCHW"`` and takes and returns ``[B, C, H, W]``;
* ``resample_state(state, old_grid, new_grid)``: the mixer's own state dict (keys relative to the mixer)
  converted from a checkpoint made at ``old_grid`` to ``new_grid``;
* ``token_count(state)``: the number of tokens a checkpoint's mixer state was made for, or ``None`` when
  the mixer has no grid-sized weights.
"""

from typing import Protocol

import torch
import torch.nn.functional as F

Grid = tuple[int, int]


class TokenMixer(Protocol):
    """What the blocks and the checkpoint loader rely on (see the module docstring)."""

    def __call__(self, x: torch.Tensor) -> torch.Tensor: ...

    def resample_state(
            self, state: dict[str, torch.Tensor], old_grid: Grid, new_grid: Grid
    ) -> dict[str, torch.Tensor]: ...

    def token_count(self, state: dict[str, torch.Tensor]) -> int | None: ...


def resize_token_axis(
        tensor: torch.Tensor,
        axis: int,
        old_grid: Grid,
        new_grid: Grid,
        summed: bool,
        prefix_tokens: int = 0,
) -> torch.Tensor:
    """Resize one token axis of a weight from ``old_grid`` to ``new_grid``.

    The axis (``prefix_tokens`` non-spatial entries such as a class token, then H*W tokens in raster order) is
    viewed as an H x W image and resized with bicubic interpolation (``align_corners=False``); prefix entries are
    kept as they are. An axis that the layer sums over (``summed=True``: an input axis) is also scaled by
    ``old_tokens / new_tokens``, so that a spatially constant input keeps its response.
    """
    if tuple(old_grid) == tuple(new_grid):
        return tensor
    old_tokens, new_tokens = old_grid[0] * old_grid[1], new_grid[0] * new_grid[1]
    if tensor.shape[axis] != prefix_tokens + old_tokens:
        raise ValueError(
            f"token axis {axis} has {tensor.shape[axis]} entries, "
            f"expected {prefix_tokens} + {old_grid[0]}x{old_grid[1]}"
        )
    moved = tensor.movedim(axis, -1)
    lead = moved.shape[:-1]
    prefix, spatial = moved[..., :prefix_tokens], moved[..., prefix_tokens:]
    images = spatial.reshape(-1, 1, *old_grid).float()
    resized = F.interpolate(images, size=tuple(new_grid), mode="bicubic", align_corners=False)
    resized = resized.reshape(*lead, new_tokens).to(tensor.dtype)
    if summed:
        resized = resized * (old_tokens / new_tokens)
    return torch.cat([prefix, resized], dim=-1).movedim(-1, axis).contiguous()
