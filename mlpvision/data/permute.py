"""Train-time input permutations (MLP-Mixer paper §3.4, Fig. 4): one fixed permutation, drawn from the run's seed,
applied to every training and test image, so that a model learns on shuffled images from the start.

* ``patch``: the paper's "patch + pixel shuffling": the order of the ``patch``×``patch`` tiles is permuted, and
  inside every tile the pixels are permuted by one further fixed permutation (the same for every tile).
* ``pixel``: the paper's "global shuffling": every pixel position of the image is permuted.

Both move whole pixels (all channels together) and are the same for every image; ``inverse`` undoes them.
"""

import torch
from torch import nn

PERMUTATIONS = ("patch", "pixel")


def pixel_order(kind: str, height: int, width: int, patch: int | None, seed: int) -> torch.Tensor:
    """The raster index of the source pixel of each output pixel (length ``height·width``)."""
    if kind not in PERMUTATIONS:
        raise ValueError(f"--permute must be one of {', '.join(PERMUTATIONS)}, got {kind!r}")
    generator = torch.Generator().manual_seed(seed)
    if kind == "pixel":
        return torch.randperm(height * width, generator=generator)
    if not patch or height % patch or width % patch:
        raise ValueError(f"--permute patch needs a patch size that divides the {height}x{width} input, got {patch} "
                         f"(set --permute-patch, or use a model with a patch_size)")
    rows, cols = height // patch, width // patch
    tiles = torch.randperm(rows * cols, generator=generator)
    inside = torch.randperm(patch * patch, generator=generator)
    grid = torch.arange(height * width).reshape(rows, patch, cols, patch).permute(0, 2, 1, 3)
    grid = grid.reshape(rows * cols, patch * patch)[tiles][:, inside]  # output tile t, pixel k ← source
    return grid.reshape(rows, cols, patch, patch).permute(0, 2, 1, 3).reshape(-1)


class FixedPermutation(nn.Module):
    """Move the pixels of a [..., C, H, W] image by one fixed ``pixel_order`` (see the module docstring)."""

    def __init__(self, kind: str, height: int, width: int, patch: int | None = None, seed: int = 0) -> None:
        super().__init__()
        self.kind, self.height, self.width = kind, height, width
        self.register_buffer("order", pixel_order(kind, height, width, patch, seed), persistent=False)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        if tuple(image.shape[-2:]) != (self.height, self.width):
            raise ValueError(f"--permute was drawn for {self.height}x{self.width} images, got "
                             f"{image.shape[-2]}x{image.shape[-1]}")
        flat = image.flatten(-2)
        return flat[..., self.order].reshape(image.shape)

    def inverse(self, image: torch.Tensor) -> torch.Tensor:
        flat = image.flatten(-2)
        return flat[..., torch.argsort(self.order)].reshape(image.shape)

    def extra_repr(self) -> str:
        return f"{self.kind}, {self.height}x{self.width}"
