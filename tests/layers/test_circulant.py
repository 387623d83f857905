"""CCS: both implementations equal the paper's Eq. 7 and each other, in forward and gradients."""

import pytest
import torch

from mlpvision.layers import CirculantChannelSpecific
from mlpvision.layers.circulant import (
    DENSE_BELOW_TOKENS,
    circulant_matrix,
    circulant_mix_dense,
    circulant_mix_fft,
)


def _eq7(x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Eq. 7 written as loops: ``ū_i = Σ_j w_j û_{(i+j) mod N}``, channel c uses vector c mod G."""
    batch, tokens, channels = x.shape
    groups = weight.shape[0]
    out = torch.zeros_like(x)
    for c in range(channels):
        w = weight[c % groups]
        for i in range(tokens):
            out[:, i, c] = sum(w[j] * x[:, (i + j) % tokens, c] for j in range(tokens))
    return out


@pytest.mark.parametrize(("tokens", "channels", "groups"), [(6, 4, 2), (9, 6, 3), (7, 8, 8), (5, 3, 1)])
def test_both_implementations_equal_eq7(tokens, channels, groups):
    x = torch.randn(2, tokens, channels, dtype=torch.float64)
    weight = torch.randn(groups, tokens, dtype=torch.float64)
    expected = _eq7(x, weight)
    torch.testing.assert_close(circulant_mix_dense(x, weight), expected)
    torch.testing.assert_close(circulant_mix_fft(x, weight), expected)


def test_circulant_matrix_is_eq5():
    """First column ``w``, each column the previous one rolled down by one (Eq. 5 with ``W₃`` applied as ``W₃ x``)."""
    weight = torch.arange(4.0).reshape(1, 4)
    matrix = circulant_matrix(weight)[0]
    expected = torch.tensor([[0.0, 1, 2, 3], [3, 0, 1, 2], [2, 3, 0, 1], [1, 2, 3, 0]])
    torch.testing.assert_close(matrix, expected)


@pytest.mark.parametrize("tokens", [49, 196, 15 * 13])
def test_fft_and_dense_agree_in_fp32_forward_and_gradients(tokens):
    torch.manual_seed(0)
    x = torch.randn(3, tokens, 64)
    weight = torch.randn(8, tokens) / tokens**0.5
    grad_out = torch.randn(3, tokens, 64)
    results = []
    for mix in (circulant_mix_dense, circulant_mix_fft):
        xx, ww = x.clone().requires_grad_(), weight.clone().requires_grad_()
        out = mix(xx, ww)
        out.backward(grad_out)
        results.append((out.detach(), xx.grad, ww.grad))
    for dense, fft in zip(*results, strict=True):  # |Δ| ≤ 1e-5 on the scale of the tensor (the weight gradient
        scale = dense.abs().max().clamp(min=1.0)  # sums 3·64·N products, so its entries reach ~10-100)
        assert (fft - dense).abs().max() <= 1e-5 * scale


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
@pytest.mark.parametrize("impl", ["fft", "dense"])
def test_half_precision_on_196_tokens(dtype, impl):
    mixer = CirculantChannelSpecific(dim=32, grid_size=(14, 14), impl=impl)
    x = torch.randn(2, 14, 14, 32)
    reference = mixer(x)
    with torch.no_grad():
        out = mixer.to(dtype)(x.to(dtype))
    assert out.dtype == dtype
    torch.testing.assert_close(out.float(), reference.detach(), rtol=0.05, atol=0.05)


def test_auto_dispatch_follows_the_measured_threshold():
    small = CirculantChannelSpecific(dim=8, grid_size=(7, 7))
    large = CirculantChannelSpecific(dim=8, grid_size=(14, 14))
    assert small.resolved_impl(49) == ("dense" if DENSE_BELOW_TOKENS > 49 else "fft")
    assert large.resolved_impl(196) == ("dense" if DENSE_BELOW_TOKENS > 196 else "fft")
    assert CirculantChannelSpecific(dim=8, grid_size=(14, 14), impl="dense").resolved_impl(196) == "dense"


def test_any_divisor_of_the_channels_is_a_valid_group_count():
    for groups in (1, 2, 3, 4, 6, 12):
        mixer = CirculantChannelSpecific(dim=12, grid_size=(3, 3), groups=groups)
        assert mixer.weight.shape == (groups, 9)
        assert mixer(torch.randn(1, 3, 3, 12)).shape == (1, 3, 3, 12)
    with pytest.raises(ValueError, match="5 does not divide 12"):
        CirculantChannelSpecific(dim=12, grid_size=(3, 3), groups=5)


def test_no_bias_and_g_times_n_parameters():
    mixer = CirculantChannelSpecific(dim=768, grid_size=(14, 14), groups=8)
    assert [name for name, _ in mixer.named_parameters()] == ["weight"]
    assert mixer.weight.numel() == 8 * 196


def test_spatial_agnostic_under_a_circular_token_shift():
    """Circulant mixing commutes with a cyclic shift of the (raster-order) tokens."""
    mixer = CirculantChannelSpecific(dim=8, grid_size=(4, 4), groups=2)
    x = torch.randn(1, 4, 4, 8)
    shifted = x.reshape(1, 16, 8).roll(3, dims=1).reshape(1, 4, 4, 8)
    expected = mixer(x).reshape(1, 16, 8).roll(3, dims=1).reshape(1, 4, 4, 8)
    torch.testing.assert_close(mixer(shifted), expected)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_the_fft_path_traces_as_one_leaf(dtype):
    """FX cannot branch on the input's dtype, so the FFT mix is a leaf of traced graphs (timm's and plain FX)."""
    mixer = CirculantChannelSpecific(16, (14, 14), groups=4, impl="fft").to(dtype)
    traced = torch.fx.symbolic_trace(mixer)
    assert circulant_mix_fft in [node.target for node in traced.graph.nodes if node.op == "call_function"]
    x = torch.randn(2, 14, 14, 16, dtype=dtype)
    assert torch.equal(traced(x), mixer(x))
