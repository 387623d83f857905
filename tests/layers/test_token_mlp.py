"""MLP-Mixer's token MLP (``layers/token_mlp.py``) against Eq. 1 written with the transposes, prefix tokens included."""

import pytest
import torch
from torch import nn

from mlpvision.layers import TokenMlp

from ..conftest import randomize_


@pytest.mark.parametrize("prefix", [0, 1])
def test_token_mlp_is_eq1_over_the_token_axis(prefix):
    torch.manual_seed(0)
    mixer = randomize_(TokenMlp(6, (2, 3), hidden_features=5, num_prefix_tokens=prefix))
    x = torch.randn(2, prefix + 6, 6)
    hidden = nn.functional.gelu(nn.functional.linear(x.transpose(1, 2), mixer.fc1.weight, mixer.fc1.bias))
    expected = nn.functional.linear(hidden, mixer.fc2.weight, mixer.fc2.bias).transpose(1, 2)
    torch.testing.assert_close(mixer(x), expected, rtol=1e-5, atol=1e-6)
    assert mixer.token_count(mixer.state_dict()) == 6


def test_token_filters_skip_the_prefix_tokens():
    mixer = TokenMlp(4, (2, 3), hidden_features=5, num_prefix_tokens=1)
    filters, what = mixer.token_filters()
    torch.testing.assert_close(filters.reshape(5, 6), mixer.fc1.weight[:, 1:])
    assert "hidden units" in what
