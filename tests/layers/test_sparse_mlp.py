"""sMLPNet's sparse MLP (``layers/sparse_mlp.py``): against its equation, its reach, its resampling."""

import torch

from mlpvision.layers.sparse_mlp import SparseMlp

from ..conftest import randomize_


def test_sparse_mlp_matches_the_equation_on_a_non_square_grid():
    """out[c] = Σ_c' F[c, c'] · concat[x, x_W, x_H][c'], x_W mixing each row, x_H each column (Alg. 1, code order)."""
    torch.manual_seed(0)
    channels, rows, cols = 3, 3, 5
    mixer = randomize_(SparseMlp(channels, grid_size=(rows, cols)))
    x = torch.randn(2, channels, rows, cols)
    w_w, b_w = mixer.mix_width.weight, mixer.mix_width.bias
    w_h, b_h = mixer.mix_height.weight, mixer.mix_height.bias
    fuse = mixer.fusion.weight[:, :, 0, 0]
    along_w, along_h = torch.zeros_like(x), torch.zeros_like(x)
    for i in range(rows):
        for j in range(cols):
            along_w[..., i, j] = sum(w_w[j, k] * x[..., i, k] for k in range(cols)) + b_w[j]
            along_h[..., i, j] = sum(w_h[i, k] * x[..., k, j] for k in range(rows)) + b_h[i]
    stacked = torch.cat([x, along_w, along_h], dim=1)
    expected = torch.einsum("oc,bchw->bohw", fuse, stacked)
    assert w_w.shape == (cols, cols)
    assert w_h.shape == (rows, rows)
    torch.testing.assert_close(mixer(x), expected, rtol=1e-5, atol=1e-6)


def test_sparse_mlp_reaches_only_its_row_and_column():
    mixer = randomize_(SparseMlp(4, grid_size=(5, 5)))
    x = torch.randn(1, 4, 5, 5, requires_grad=True)
    mixer(x)[0, :, 2, 3].sum().backward()
    reached = x.grad[0].abs().sum(dim=0) > 0
    expected = torch.zeros(5, 5, dtype=torch.bool)
    expected[2, :], expected[:, 3] = True, True
    assert torch.equal(reached, expected)


def test_sparse_mlp_resampling_keeps_the_response_to_a_constant_input():
    mixer = SparseMlp(2, grid_size=(4, 6))
    with torch.no_grad():
        mixer.mix_width.weight.fill_(0.5)
        mixer.mix_height.weight.fill_(0.25)
    state = mixer.state_dict()
    assert mixer.token_count(state) == 24
    assert all(torch.equal(value, state[key]) for key, value in mixer.resample_state(state, (4, 6), (4, 6)).items())
    resized = mixer.resample_state(state, (4, 6), (8, 3))
    assert resized["mix_height.weight"].shape == (8, 8)
    assert resized["mix_height.bias"].shape == (8,)
    assert resized["mix_width.weight"].shape == (3, 3)
    assert resized["mix_width.bias"].shape == (3,)
    torch.testing.assert_close(resized["mix_width.weight"] @ torch.ones(3), torch.full((3,), 3.0))
    torch.testing.assert_close(resized["mix_height.weight"] @ torch.ones(8), torch.full((8,), 1.0))
    assert torch.equal(resized["fusion.weight"], state["fusion.weight"])
