"""The token-mixer contract (``mlpvision/layers/token_mixer.py``), checked on every mixer in ``TOKEN_MIXERS``."""

import pytest
import torch

from mlpvision.layers import TOKEN_MIXERS

DIM = 16
GRIDS = [(4, 4), (3, 5), (7, 7)]


def _build(name: str, grid: tuple[int, int]) -> torch.nn.Module:
    torch.manual_seed(0)
    cls = TOKEN_MIXERS[name]
    paper_args = {"token_mlp": dict(hidden_features=8), "weighted_permute_mlp": dict(segment_dim=4),
                  "dyna_mixer": dict(num_heads=4, reduced_dim=2), "rep_mlp": dict(share_sets=4)}
    return cls(dim=DIM, grid_size=grid, **paper_args.get(name, {}))


def _run(mixer: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Apply ``mixer`` to a channels-last ``x`` whatever its layout; the output channels-last too."""
    if getattr(mixer, "layout", "NHWC") == "NCHW":
        return mixer(x.permute(0, 3, 1, 2)).permute(0, 2, 3, 1)
    return mixer(x)


def _out_channels(name: str) -> int:
    return DIM // 2 if name == "spatial_gating" else DIM  # the gate returns the bypass half, gated


@pytest.mark.parametrize("grid", GRIDS)
@pytest.mark.parametrize("name", TOKEN_MIXERS)
def test_shape_is_preserved(name, grid):
    x = torch.randn(2, *grid, DIM)
    assert _run(_build(name, grid), x).shape == (2, *grid, _out_channels(name))


@pytest.mark.parametrize("name", TOKEN_MIXERS)
def test_gradient_reaches_every_parameter(name):
    mixer = _build(name, (4, 4))
    x = torch.randn(2, 4, 4, DIM, requires_grad=True)
    _run(mixer, x).square().sum().backward()
    assert x.grad is not None
    assert x.grad.abs().sum() > 0
    for param_name, param in mixer.named_parameters():
        assert param.grad is not None, param_name
        assert param.grad.abs().sum() > 0, param_name


@pytest.mark.parametrize("name", TOKEN_MIXERS)
def test_deterministic(name):
    mixer = _build(name, (4, 4))
    x = torch.randn(2, 4, 4, DIM)
    assert torch.equal(_run(mixer, x), _run(mixer, x))


@pytest.mark.parametrize("name", TOKEN_MIXERS)
def test_mixes_tokens(name):
    """Changing one token changes other tokens' outputs: the module really mixes across positions."""
    mixer = _build(name, (4, 4))
    with torch.no_grad():
        for param in mixer.parameters():
            param.add_(torch.randn_like(param) * 0.1)
    x = torch.randn(1, 4, 4, DIM)
    y = x.clone()
    y[0, 1, 1] += torch.randn(DIM)  # random, not constant: a LayerNorm inside would cancel a constant
    changed = (_run(mixer, x) - _run(mixer, y)).abs().sum(dim=-1)[0] > 1e-6
    changed[1, 1] = False
    assert changed.any()


@pytest.mark.parametrize("name", TOKEN_MIXERS)
def test_resample_state_round_trips_at_the_same_grid(name):
    mixer = _build(name, (4, 4))
    state = mixer.state_dict()
    resampled = mixer.resample_state(state, (4, 4), (4, 4))
    assert all(torch.equal(resampled[key], state[key]) for key in state)
    assert mixer.token_count(state) in (16, None)


@pytest.mark.slow
@pytest.mark.parametrize("name", TOKEN_MIXERS)
def test_torch_compile_matches_eager(name):
    mixer = _build(name, (4, 4))
    x = torch.randn(2, 4, 4, DIM)
    torch.testing.assert_close(_run(torch.compile(mixer), x), _run(mixer, x), rtol=1e-5, atol=1e-6)
