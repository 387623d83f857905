"""ViP's split attention (``layers/split_attention.py``) against Eq. 4–5 written branch by branch."""

import torch

from mlpvision.layers.split_attention import branch_reweighting_mlp, split_attention

from ..conftest import randomize_


def test_split_attention_is_a_per_channel_softmax_over_the_branches():
    torch.manual_seed(0)
    reweight = randomize_(branch_reweighting_mlp(8))
    branches = [torch.randn(2, 3, 4, 8) for _ in range(3)]
    pooled = sum(branches).mean(dim=(1, 2))
    weights = reweight(pooled).reshape(2, 8, 3).softmax(dim=-1)
    expected = sum(branch * weights[:, None, None, :, k] for k, branch in enumerate(branches))
    torch.testing.assert_close(split_attention(branches, reweight), expected, rtol=1e-5, atol=1e-6)
