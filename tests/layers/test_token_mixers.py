"""The token-mixer contract (``mlpvision/layers/token_mixer.py``), checked on every mixer in ``TOKEN_MIXERS``.

Each mixer is built with its own ``example_args``: nothing here knows a mixer by name but the gate's half width.
"""

import pytest
import torch

from mlpvision.layers import TOKEN_MIXERS

DIM = 16
GRIDS = [(4, 4), (3, 5), (7, 7)]


def _build(name: str, grid: tuple[int, int]) -> torch.nn.Module:
    torch.manual_seed(0)
    cls = TOKEN_MIXERS[name]
    return cls(dim=DIM, grid_size=grid, **cls.example_args)


def _run(mixer: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Apply ``mixer`` to a channels-last ``x`` whatever its layout; the output channels-last too."""
    if mixer.layout == "NCHW":
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


def _perturbed(mixer: torch.nn.Module) -> torch.nn.Module:
    """Random parameters and BatchNorm statistics, so that no part of the mixer is an identity."""
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for param in mixer.parameters():
            param.add_(torch.randn(param.shape, generator=generator) * 0.1)
        for module in mixer.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.copy_(torch.randn(module.running_mean.shape, generator=generator) * 0.1)
                module.running_var.copy_(torch.rand(module.running_var.shape, generator=generator) + 0.5)
    return mixer.eval()


def test_every_mixer_file_registers_its_mixer():
    from pathlib import Path

    import mlpvision.layers

    modules = {cls.__module__.rsplit(".", 1)[1] for cls in TOKEN_MIXERS.values()}
    files = {p.stem for p in Path(mlpvision.layers.__file__).parent.glob("*.py")}
    assert modules <= files
    assert all(TOKEN_MIXERS[name].name == name for name in TOKEN_MIXERS)


@pytest.mark.parametrize("name", [name for name, cls in TOKEN_MIXERS.items() if len(cls.impls) > 1])
def test_every_impl_computes_the_same_function(name):
    mixer = _perturbed(_build(name, (4, 4))).double()
    x = torch.randn(2, 4, 4, DIM, dtype=torch.float64)
    outputs = []
    for impl in mixer.impls:
        mixer.impl = impl
        outputs.append(_run(mixer, x))
    for out in outputs[1:]:
        torch.testing.assert_close(out, outputs[0], rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("name", TOKEN_MIXERS)
def test_export_form_computes_the_same_function(name):
    """``to_export_form`` (re-parameterisation, the exportable ``impl``) keeps the eval-mode function."""
    mixer = _perturbed(_build(name, (4, 4)))
    x = torch.randn(2, 4, 4, DIM)
    with torch.no_grad():
        before = _run(mixer, x)
        mixer.to_export_form()
        torch.testing.assert_close(_run(mixer, x), before, rtol=1e-4, atol=1e-5)
    assert mixer.export_impl is None or mixer.impl == mixer.export_impl


@pytest.mark.parametrize("name", TOKEN_MIXERS)
def test_token_filters_lie_on_the_token_grid(name):
    filters = _build(name, (3, 5)).token_filters()
    if filters is not None:
        weights, what = filters
        assert weights.shape[1:] == (3, 5)
        assert what


@pytest.mark.slow
@pytest.mark.parametrize("name", TOKEN_MIXERS)
def test_torch_compile_matches_eager(name):
    mixer = _build(name, (4, 4))
    x = torch.randn(2, 4, 4, DIM)
    torch.testing.assert_close(_run(torch.compile(mixer), x), _run(mixer, x), rtol=1e-5, atol=1e-6)
