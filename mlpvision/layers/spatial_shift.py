"""S²-MLP spatial-shift token mixer."""

import torch
from torch import nn

from .token_mixer import Grid, TokenMixer


def spatial_shift(x: torch.Tensor) -> torch.Tensor:
    """Shift four contiguous channel groups of a ``[B, H, W, C]`` tensor by one token, out of place.

    S²-MLP, Eq. 3 / Alg. 1: group 1 moves +1 along the width, group 2 -1 along the width, group 3 +1 along the
    height, group 4 -1 along the height; the first/last row or column keeps its own value (no zero padding).
    Written with ``torch.cat`` rather than the in-place overlapping slice copy of the unofficial port, which
    propagates the border value instead of shifting it. Channels beyond ``4 * (C // 4)`` are left unshifted.
    """
    q = x.shape[-1] // 4
    g1, g2, g3, g4, rest = x[..., :q], x[..., q:2 * q], x[..., 2 * q:3 * q], x[..., 3 * q:4 * q], x[..., 4 * q:]
    g1 = torch.cat([g1[:, :, :1], g1[:, :, :-1]], dim=2)
    g2 = torch.cat([g2[:, :, 1:], g2[:, :, -1:]], dim=2)
    g3 = torch.cat([g3[:, :1], g3[:, :-1]], dim=1)
    g4 = torch.cat([g4[:, 1:], g4[:, -1:]], dim=1)
    return torch.cat([g1, g2, g3, g4, rest], dim=-1)


class SpatialShiftMixer(TokenMixer, name="spatial_shift"):
    """Spatial-shift token mixing: ``FC₂(Shift(GELU(FC₁(x))))``, channel FCs around a parameter-free shift.

    S²-MLP, §3.2 (the first sub-block of each S²-MLP block; the block owns the norm and residual). The order
    FC → GELU → shift → FC follows the unofficial PyTorch port (the paper's figure leaves the GELU position open).
    The direction convention follows the paper's axes: on the unofficial port's NHWC tensor the "width" groups
    move along the height, which matters only for numerical parity with that port.

    Args:
        dim: channels.
        grid_size: unused: the shift has no grid-sized weights, so the mixer takes any grid.
        act_layer: activation between the first FC and the shift.
    """

    def __init__(self, dim: int, grid_size: Grid, act_layer: type[nn.Module] = nn.GELU) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, dim)
        self.act = act_layer()
        self.fc2 = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(spatial_shift(self.act(self.fc1(x))))
