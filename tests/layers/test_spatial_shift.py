"""S²-MLP's spatial shift: the four groups move one token each way and the border keeps its own value."""

import torch

from mlpvision.layers.spatial_shift import spatial_shift


def test_shift_directions_and_borders_on_a_hand_computed_case():
    grid = torch.arange(9.0).reshape(1, 3, 3, 1)  # rows 0 1 2 / 3 4 5 / 6 7 8
    x = grid.expand(1, 3, 3, 4).clone()
    y = spatial_shift(x)
    torch.testing.assert_close(y[0, :, :, 0], torch.tensor([[0.0, 0, 1], [3, 3, 4], [6, 6, 7]]))  # +1 width
    torch.testing.assert_close(y[0, :, :, 1], torch.tensor([[1.0, 2, 2], [4, 5, 5], [7, 8, 8]]))  # -1 width
    torch.testing.assert_close(y[0, :, :, 2], torch.tensor([[0.0, 1, 2], [0, 1, 2], [3, 4, 5]]))  # +1 height
    torch.testing.assert_close(y[0, :, :, 3], torch.tensor([[3.0, 4, 5], [6, 7, 8], [6, 7, 8]]))  # -1 height


def test_shift_is_out_of_place_and_does_not_propagate():
    """The in-place overlapping slice copy of the unofficial port turns a row [0, 12, 24] into [0, 0, 0]."""
    x = torch.zeros(1, 1, 3, 4)
    x[0, 0, :, 0] = torch.tensor([0.0, 12.0, 24.0])
    before = x.clone()
    y = spatial_shift(x)
    torch.testing.assert_close(y[0, 0, :, 0], torch.tensor([0.0, 0.0, 12.0]))
    assert torch.equal(x, before)


def test_channels_beyond_four_groups_pass_unchanged():
    x = torch.randn(1, 3, 3, 10)
    torch.testing.assert_close(spatial_shift(x)[..., 8:], x[..., 8:])
