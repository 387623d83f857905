"""ResMLP's affine transformation, the statistics-free replacement for LayerNorm."""

import torch
from torch import nn


class Affine(nn.Module):
    """``Aff(x) = α ⊙ x + β`` per channel on the last axis (ResMLP, Eq. 1); α starts at 1, β at 0.

    Args:
        dim: channels.
    """

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.alpha = nn.Parameter(torch.ones(dim))
        self.beta = nn.Parameter(torch.zeros(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.addcmul(self.beta, self.alpha, x)
