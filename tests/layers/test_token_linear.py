"""ResMLP's cross-patch linear (``layers/token_linear.py``): ``A · X + b`` over the tokens, shared by the channels."""

import torch

from mlpvision.layers import TokenLinear

from ..conftest import randomize_


def test_token_linear_is_one_matrix_over_the_tokens():
    torch.manual_seed(0)
    mixer = randomize_(TokenLinear(5, (2, 2)))
    x = torch.randn(3, 2, 2, 5)
    tokens = x.reshape(3, 4, 5)
    expected = torch.einsum("ij,bjc->bic", mixer.weight, tokens) + mixer.bias[None, :, None]
    torch.testing.assert_close(mixer(x), expected.reshape(x.shape), rtol=1e-5, atol=1e-6)


def test_resampling_keeps_the_response_to_a_constant_input():
    mixer = TokenLinear(1, (4, 4))
    with torch.no_grad():
        mixer.weight.fill_(0.25)
        mixer.bias.zero_()
    resampled = mixer.resample_state(mixer.state_dict(), (4, 4), (2, 6))
    wide = TokenLinear(1, (2, 6))
    wide.load_state_dict(resampled)
    torch.testing.assert_close(wide(torch.ones(1, 2, 6, 1)), torch.full((1, 2, 6, 1), 4.0))
