"""ViP's split attention (``layers/split_attention.py``) against Eq. 4–5 written branch by branch and by loops."""

import torch

from mlpvision.layers.split_attention import SplitAttention

from ..conftest import randomize_


def test_split_attention_is_a_per_channel_softmax_over_the_branches():
    torch.manual_seed(0)
    reweight = randomize_(SplitAttention(8))
    branches = [torch.randn(2, 3, 4, 8) for _ in range(3)]
    pooled = sum(branches).mean(dim=(1, 2))
    weights = reweight(pooled).reshape(2, 8, 3).softmax(dim=-1)
    expected = sum(branch * weights[:, None, None, :, k] for k, branch in enumerate(branches))
    torch.testing.assert_close(reweight.combine(branches), expected, rtol=1e-5, atol=1e-6)


def test_output_index_of_branch_k_for_channel_c_is_three_c_plus_k():
    torch.manual_seed(0)
    reweight = randomize_(SplitAttention(8))
    branches = [torch.randn(2, 3, 4, 8) for _ in range(3)]
    logits = reweight(sum(branches).mean(dim=(1, 2)))  # [B, 3C]
    expected = torch.zeros_like(branches[0])
    for b in range(2):
        for c in range(8):
            weights = torch.softmax(torch.stack([logits[b, 3 * c + k] for k in range(3)]), dim=0)
            for k in range(3):
                expected[b, :, :, c] += weights[k] * branches[k][b, :, :, c]
    torch.testing.assert_close(reweight.combine(branches), expected, rtol=1e-5, atol=1e-6)


def test_the_fusion_scripts():
    reweight = randomize_(SplitAttention(8)).eval()
    branches = [torch.randn(2, 3, 4, 8) for _ in range(3)]
    scripted = torch.jit.script(reweight)
    torch.testing.assert_close(scripted.combine(branches), reweight.combine(branches))
