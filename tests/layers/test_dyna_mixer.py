"""DynaMixer's operation (Eq. 2–7) against a loop over segments, and its block's row/column bookkeeping."""

import torch

from mlpvision.layers.dyna_mixer import DynaMixer, DynaMixerOperation


def operation_by_definition(op: DynaMixerOperation, x: torch.Tensor) -> torch.Tensor:
    """Per segment s: P = softmax_i(flat(X W_d⁽ˢ⁾) W), Y[j] = Σ_i P[i, j] X⁽ˢ⁾[i]; then the output projection."""
    tokens, channels = x.shape
    heads, reduced = op.num_heads, op.reduced_dim
    width = channels // heads
    compressed = op.compress(x).reshape(tokens, heads, reduced)
    segments = []
    for s in range(heads):
        logits = op.generate(compressed[:, s].reshape(-1)).reshape(tokens, tokens)  # [i, j]
        mixing = torch.softmax(logits, dim=0)
        values = x[:, s * width:(s + 1) * width]
        segments.append(torch.stack([sum(mixing[i, j] * values[i] for i in range(tokens)) for j in range(tokens)]))
    return op.out(torch.cat(segments, dim=1))


def test_operation_follows_the_equations():
    torch.manual_seed(0)
    op = DynaMixerOperation(dim=12, seq_len=5, num_heads=3, reduced_dim=2).double()
    x = torch.randn(4, 5, 12, dtype=torch.float64)
    expected = torch.stack([operation_by_definition(op, sequence) for sequence in x])
    torch.testing.assert_close(op(x), expected)


def test_block_mixes_columns_with_mix_h_and_rows_with_mix_w():
    torch.manual_seed(0)
    mixer = DynaMixer(dim=8, grid_size=(3, 5), num_heads=2, reduced_dim=2).double()
    x = torch.randn(2, 3, 5, 8, dtype=torch.float64)
    h = torch.stack([mixer.mix_h(x[:, :, w]) for w in range(5)], dim=2)  # each column's 3 tokens
    w = torch.stack([mixer.mix_w(x[:, row]) for row in range(3)], dim=1)  # each row's 5 tokens
    expected = mixer.proj(mixer.reweight.combine([h, w, mixer.mlp_c(x)]))
    torch.testing.assert_close(mixer(x), expected)


def test_resampling_changes_every_token_axis_of_generate():
    torch.manual_seed(0)
    mixer = DynaMixer(dim=8, grid_size=(4, 4), num_heads=2, reduced_dim=3)
    state = mixer.resample_state(mixer.state_dict(), (4, 4), (6, 5))
    larger = DynaMixer(dim=8, grid_size=(6, 5), num_heads=2, reduced_dim=3)
    larger.load_state_dict(state)  # shapes fit
    assert larger.token_count(state) == 30
    assert state["mix_h.generate.weight"].shape == (36, 18)
    assert state["mix_w.generate.bias"].shape == (25,)
    assert torch.equal(state["mix_h.compress.weight"], mixer.state_dict()["mix_h.compress.weight"])
