"""AS-MLP's axial shift (``mlpvision/layers/axial_shift.py``) against the authors' CUDA kernel, index for index."""

import math

import pytest
import torch

from mlpvision.layers.axial_shift import AxialShift, axial_shift


def _kernel_reference(x: torch.Tensor, shift_size: int, dim: int) -> torch.Tensor:
    """``shift_forward_kernel`` of the authors' ``models/shift_cuda.py``, one output element at a time."""
    _, channels, height, width = x.shape
    group = math.ceil(channels / shift_size)
    out = torch.zeros_like(x)
    for c in range(channels):
        s = -(c // group - shift_size // 2)
        for h in range(height):
            for w in range(width):
                if dim == 2 and 0 <= h + s < height:
                    out[:, c, h, w] = x[:, c, h + s, w]
                elif dim == 3 and 0 <= w + s < width:
                    out[:, c, h, w] = x[:, c, h, w + s]
    return out


@pytest.mark.parametrize("dim", [2, 3])
@pytest.mark.parametrize(("channels", "shift_size"), [(10, 5), (13, 5), (16, 5), (7, 3), (9, 7)])
def test_shift_is_the_authors_kernel(channels, shift_size, dim):
    """Even and uneven groups (16 channels in groups of 4 make only 4 groups, as in the code), non-square grids."""
    x = torch.randn(2, channels, 5, 8)
    assert torch.equal(axial_shift(x, shift_size, dim), _kernel_reference(x, shift_size, dim))


def test_shift_moves_the_first_group_back_and_the_last_forward():
    x = torch.arange(1.0, 7.0).expand(1, 5, 1, 6)  # one channel per group, values = column index + 1
    out = axial_shift(x, 5, 3)[0, :, 0]
    assert out.tolist() == [[3, 4, 5, 6, 0, 0], [2, 3, 4, 5, 6, 0], [1, 2, 3, 4, 5, 6], [0, 1, 2, 3, 4, 5],
                            [0, 0, 1, 2, 3, 4]]


def test_shift_of_size_one_is_the_identity_and_bad_arguments_are_refused():
    x = torch.randn(1, 4, 3, 3)
    assert torch.equal(axial_shift(x, 1, 2), x)
    with pytest.raises(ValueError, match="height \\(dim 2\\) or the width \\(dim 3\\)"):
        axial_shift(x, 5, 1)
    with pytest.raises(ValueError, match="shift_size must be a positive odd number"):
        AxialShift(8, shift_size=4)


def test_mixer_reaches_two_positions_along_each_axis_only():
    """Through the shifts alone (norms aside), one position reads its row and column within ±2, nothing else."""
    mixer = AxialShift(10, shift_size=5)
    mixer.norm1 = mixer.norm2 = torch.nn.Identity()  # a GroupNorm's statistics reach every position
    x = torch.randn(1, 10, 9, 11, requires_grad=True)
    mixer(x)[0, :, 4, 5].sum().backward()
    reached = x.grad[0].abs().sum(0) > 0
    expected = torch.zeros(9, 11, dtype=torch.bool)
    expected[4, 3:8] = True
    expected[2:7, 5] = True
    assert torch.equal(reached, expected)


def test_mixer_takes_any_grid():
    mixer = AxialShift(12)
    for grid in ((7, 7), (3, 10), (1, 1)):
        assert mixer(torch.randn(2, 12, *grid)).shape == (2, 12, *grid)
