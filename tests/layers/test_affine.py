"""ResMLP's affine map (``layers/affine.py``): ``α ⊙ x + β`` per channel, the identity at initialisation."""

import torch

from mlpvision.layers import Affine


def test_affine_is_per_channel_and_starts_as_the_identity():
    affine = Affine(3)
    x = torch.randn(2, 4, 3)
    assert torch.equal(affine(x), x)
    with torch.no_grad():
        affine.alpha.copy_(torch.tensor([1.0, 2.0, 3.0]))
        affine.beta.copy_(torch.tensor([0.0, -1.0, 1.0]))
    torch.testing.assert_close(affine(x), x * torch.tensor([1.0, 2.0, 3.0]) + torch.tensor([0.0, -1.0, 1.0]))
