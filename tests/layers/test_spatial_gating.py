"""gMLP's spatial gating unit starts as an identity gate (§2.1: W near 0, b = 1)."""

import torch

from mlpvision.layers import SpatialGatingUnit


def test_initialisation_makes_the_gate_start_near_identity():
    unit = SpatialGatingUnit(dim=8, grid_size=(3, 3))
    assert unit.proj.weight.abs().max() < 1e-4
    assert torch.equal(unit.proj.bias, torch.ones(9))
    x = torch.randn(2, 3, 3, 8)
    torch.testing.assert_close(unit(x), x[..., :4], rtol=1e-3, atol=1e-3)


def test_first_half_is_the_bypass_second_half_is_gated():
    unit = SpatialGatingUnit(dim=4, grid_size=(2, 2))
    x = torch.randn(1, 2, 2, 4)
    doubled = x.clone()
    doubled[..., :2] *= 2
    torch.testing.assert_close(unit(doubled), 2 * unit(x))
