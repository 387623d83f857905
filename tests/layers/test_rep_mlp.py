"""The RepMLP Block (``layers/rep_mlp.py``): against the paper's formula, its map size, Locality Injection."""

import pytest
import torch
import torch.nn.functional as F

from mlpvision.layers.rep_mlp import RepMlp

from ..conftest import randomize_statistics_


def _naive_rep_mlp(mixer: RepMlp, x: torch.Tensor, training: bool) -> torch.Tensor:
    """Fig. 1 / §4.1 written out: channel i uses share-set i mod s; FC3 + BN plus depthwise convs + BN; gate."""
    n, c, h, w = x.shape
    s = mixer.share_sets
    hidden = torch.relu(mixer.global_perceptron.fc1.weight[:, :, 0, 0] @ x.mean(dim=(2, 3)).T
                        + mixer.global_perceptron.fc1.bias[:, None])
    gate = torch.sigmoid(mixer.global_perceptron.fc2.weight[:, :, 0, 0] @ hidden
                         + mixer.global_perceptron.fc2.bias[:, None]).T  # (n, c)

    def batch_norm(maps: list[torch.Tensor], norm: torch.nn.BatchNorm2d) -> list[torch.Tensor]:
        # maps[i] is channel i's (n, h, w) output; BN statistics per share-set over every channel using it
        out = []
        for i, m in enumerate(maps):
            k = i % s
            if training:
                pooled = torch.stack([maps[j] for j in range(k, c, s)])
                mean, var = pooled.mean(), pooled.var(unbiased=False)
            else:
                mean, var = norm.running_mean[k], norm.running_var[k]
            out.append((m - mean) / torch.sqrt(var + norm.eps) * norm.weight[k] + norm.bias[k])
        return out

    tokens = h * w
    fc3 = mixer.fc3.weight.reshape(s, tokens, tokens)
    channel = [(x[:, i].reshape(n, tokens) @ fc3[i % s].T).reshape(n, h, w) for i in range(c)]
    total = batch_norm(channel, mixer.fc3_norm)
    for branch in mixer.local_perceptron.values():
        kernel = branch.conv.weight
        size = kernel.shape[-1]
        padded = F.pad(x, [size // 2] * 4)
        conv = [sum(kernel[i % s, 0, dy, dx] * padded[:, i, dy:dy + h, dx:dx + w]
                    for dy in range(size) for dx in range(size)) for i in range(c)]
        total = [a + b for a, b in zip(total, batch_norm(conv, branch.bn), strict=True)]
    return torch.stack(total, dim=1) * gate[:, :, None, None]


@pytest.mark.parametrize("training", [False, True])
def test_rep_mlp_block_matches_the_paper_formula(training):
    torch.manual_seed(0)
    mixer = randomize_statistics_(RepMlp(8, (3, 4), share_sets=4)).double().train(training)
    x = torch.randn(2, 8, 3, 4, dtype=torch.float64)
    expected = _naive_rep_mlp(mixer, x, training)
    torch.testing.assert_close(mixer(x), expected, rtol=1e-10, atol=1e-10)


def test_rep_mlp_block_refuses_other_map_sizes():
    with pytest.raises(ValueError, match=r"built for \(3, 4\) maps"):
        RepMlp(8, (3, 4), share_sets=4)(torch.randn(1, 8, 6, 4))


def test_locality_injection_is_exact_in_float64():
    torch.manual_seed(0)
    mixer = randomize_statistics_(RepMlp(8, (5, 6), share_sets=2, local_kernel_sizes=(1, 3, 5)))
    mixer = mixer.double().eval()
    x = torch.randn(2, 8, 5, 6, dtype=torch.float64)
    expected = mixer(x)
    mixer.reparameterize()
    assert mixer.deployed
    assert mixer.fc3.bias.shape == (2 * 30,)
    assert not mixer.local_perceptron
    torch.testing.assert_close(mixer(x), expected, rtol=1e-12, atol=1e-12)


# ---- the model: re-parameterisation and checkpoints --------------------------------------------------------
