"""ViP's weighted Permute-MLP against loops (its split attention: ``test_split_attention.py``)."""

import torch

from mlpvision.layers.permute_mlp import WeightedPermuteMlp


def _mix_rows_by_loops(x: torch.Tensor, weight: torch.Tensor, segment_size: int) -> torch.Tensor:
    """For each column w and segment g, the vector (h, s) ↦ x[h, w, g·S + s] multiplied by ``weight``."""
    rows, columns, channels = x.shape
    out = torch.empty_like(x)
    for w in range(columns):
        for g in range(channels // segment_size):
            vector = torch.stack([x[h, w, g * segment_size + s] for h in range(rows) for s in range(segment_size)])
            mixed = weight @ vector
            for h in range(rows):
                for s in range(segment_size):
                    out[h, w, g * segment_size + s] = mixed[h * segment_size + s]
    return out


def test_height_and_width_branches_mix_row_channel_segments():
    """Height branch: ``mlp_h`` over (row, channel-in-segment) per column; width branch: the same along rows."""
    torch.manual_seed(0)
    mixer = WeightedPermuteMlp(dim=8, grid_size=(3, 5), segment_dim=4).double()  # S = 2
    x = torch.randn(1, 3, 5, 8, dtype=torch.float64)
    h_expected = _mix_rows_by_loops(x[0], mixer.mlp_h.weight, 2)[None]
    w_expected = _mix_rows_by_loops(x[0].transpose(0, 1), mixer.mlp_w.weight, 2).transpose(0, 1)[None]
    expected = mixer.proj(mixer.reweight.combine([h_expected, w_expected, mixer.mlp_c(x)]))
    torch.testing.assert_close(mixer(x), expected)


def _height_branch(mixer: WeightedPermuteMlp, x: torch.Tensor) -> torch.Tensor:
    batch, height, width, channels = x.shape
    size = mixer.segment_size
    rows = x.reshape(batch, height, width, -1, size).permute(0, 3, 2, 1, 4).reshape(batch, -1, width, height * size)
    return mixer.mlp_h(rows)


def test_resampling_keeps_the_response_to_a_constant_input():
    """A height mixing that is the same for every pair of rows sums over the rows: after resampling to more rows
    the N_old / N_new scale keeps the response to a spatially constant input."""
    torch.manual_seed(0)
    mixer = WeightedPermuteMlp(dim=8, grid_size=(4, 4), segment_dim=4)  # S = 2
    per_segment = torch.randn(2, 2)
    with torch.no_grad():
        mixer.mlp_h.weight.copy_(per_segment.repeat(4, 4))
    larger = WeightedPermuteMlp(dim=8, grid_size=(8, 6), segment_dim=4)
    state = mixer.resample_state(mixer.state_dict(), (4, 4), (8, 6))
    larger.load_state_dict(state)
    assert larger.token_count(state) == 48
    channel_values = torch.randn(8)
    small = _height_branch(mixer, channel_values.expand(1, 4, 4, 8))
    large = _height_branch(larger, channel_values.expand(1, 8, 6, 8))
    small_rows, large_rows = small.reshape(1, 4, 4, 4, 2), large.reshape(1, 4, 6, 8, 2)  # [B, g, W, H, S]
    torch.testing.assert_close(large_rows, small_rows[:, :, :1, :1].expand_as(large_rows))
