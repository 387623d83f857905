"""timm's model contract on every registered name in a tiny configuration (``tiny_kwargs``).

The feature tests here are the isotropic ones (block maps); the multi-stage ones are in ``test_hierarchical.py``.
"""

import pytest
import timm
import torch

from ..conftest import (
    HIERARCHICAL_FAMILIES,
    ISOTROPIC_FAMILIES,
    randomize_,
    randomize_statistics_,
    reference_rows,
    tiny_kwargs,
    tiny_model,
)

ALL_NAMES = [row["name"] for row in reference_rows()]
NAMES = [row["name"] for row in reference_rows(ISOTROPIC_FAMILIES)]
BATCH = 2


def _input(model: torch.nn.Module) -> torch.Tensor:
    return torch.randn(BATCH, 3, *model.img_size, generator=torch.Generator().manual_seed(1))


@pytest.mark.parametrize("name", ALL_NAMES)
def test_forward_is_finite_and_shaped(name):
    model = tiny_model(name).eval()
    logits = model(_input(model))
    assert logits.shape == (BATCH, 10)
    assert torch.isfinite(logits).all()


@pytest.mark.parametrize("name", ALL_NAMES)
def test_every_parameter_gets_a_gradient(name):
    model = randomize_(tiny_model(name)).train()
    model(_input(model)).logsumexp(dim=1).sum().backward()
    for param_name, param in model.named_parameters():
        assert param.grad is not None, f"no gradient for {param_name}"
        assert torch.isfinite(param.grad).all(), param_name
        assert param.grad.abs().sum() > 0, f"zero gradient for {param_name}"


@pytest.mark.parametrize("name", ALL_NAMES)
def test_eval_mode_is_deterministic(name):
    model = randomize_statistics_(tiny_model(name, drop_path_rate=0.2, drop_rate=0.2)).eval()
    x = _input(model)
    assert torch.equal(model(x), model(x))


@pytest.mark.parametrize("name", ALL_NAMES)
def test_grad_checkpointing_gives_the_same_output_and_grads(name):
    model = randomize_(tiny_model(name)).train()
    x = _input(model)
    plain = model(x)
    plain.sum().backward()
    plain_grads = {n: p.grad.clone() for n, p in model.named_parameters()}
    model.zero_grad()
    model.set_grad_checkpointing(True)
    checkpointed = model(x)
    checkpointed.sum().backward()
    torch.testing.assert_close(checkpointed, plain, rtol=1e-5, atol=1e-6)
    for n, p in model.named_parameters():
        torch.testing.assert_close(p.grad, plain_grads[n], rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("name", NAMES)
def test_forward_intermediates(name):
    model = randomize_(tiny_model(name)).eval()
    x = _input(model)
    features, intermediates = model.forward_intermediates(x)
    torch.testing.assert_close(features, model.forward_features(x))
    assert len(intermediates) == 2
    grid = (model.img_size[0] // model.patch_size, model.img_size[1] // model.patch_size)
    assert all(y.shape == (BATCH, 32, *grid) for y in intermediates)
    tokens = model.forward_intermediates(x, indices=1, output_fmt="NLC", intermediates_only=True)
    assert len(tokens) == 1
    assert tokens[0].shape == (BATCH, model.num_prefix_tokens + grid[0] * grid[1], 32)


@pytest.mark.parametrize("name", ALL_NAMES)
def test_head_api(name):
    model = randomize_statistics_(tiny_model(name)).eval()
    x = _input(model)
    features = model.forward_features(x)
    pooled = model.forward_head(features, pre_logits=True)
    assert pooled.shape == (BATCH, model.num_features) == (BATCH, model.head_hidden_size)
    torch.testing.assert_close(model.get_classifier()(pooled), model(x))
    model.reset_classifier(0)
    assert model(x).shape == (BATCH, model.num_features)
    model.reset_classifier(7)
    assert model(x).shape == (BATCH, 7)


@pytest.mark.parametrize("name", NAMES)
def test_features_only(name):
    kwargs = tiny_kwargs(name)
    model = timm.create_model(name, features_only=True, out_indices=(0, 1), **kwargs).eval()
    maps = model(torch.randn(1, 3, kwargs["img_size"], kwargs["img_size"]))
    reduction = model.feature_info.reduction()[0]
    assert [m.shape for m in maps] == [(1, 32, 4, 4)] * 2
    assert model.feature_info.channels() == [32, 32]
    assert kwargs["img_size"] // reduction == 4


@pytest.mark.parametrize("name", ALL_NAMES)
def test_no_weight_decay_covers_norms_biases_and_scales(name):
    model = tiny_model(name)
    exempt = model.no_weight_decay()
    for param_name, param in model.named_parameters():
        one_dim = param.ndim <= 1
        assert (param_name in exempt) == (one_dim or param_name in ("cls_token", "pos_embed", "cls_pos_embed"))
    assert any(".ls1" in n or "alpha" in n or "norm" in n for n in exempt)


FAMILY_REPRESENTATIVES = ["mlpv_mixer_s16", "mlpv_resmlp_12", "mlpv_gmlp_ti16", "mlpv_ffonly_tiny",
                          "mlpv_mixer_b16_ccs", "mlpv_s2mlp_deep"]
FAMILY_REPRESENTATIVES += [reference_rows((family,))[0]["name"] for family in HIERARCHICAL_FAMILIES]


@pytest.mark.slow
@pytest.mark.parametrize("name", FAMILY_REPRESENTATIVES)
def test_torch_compile_matches_eager(name):
    model = randomize_statistics_(tiny_model(name)).eval()
    x = _input(model)
    with torch.no_grad():
        eager = model(x)
        compiled = torch.compile(model)(x)
    torch.testing.assert_close(compiled, eager, rtol=1e-4, atol=1e-5)



@pytest.mark.parametrize("name", FAMILY_REPRESENTATIVES)
def test_timm_reparameterize_model_keeps_the_function(name):
    """``timm.utils.reparameterize_model`` walks every model (it calls any ``fuse``/``reparameterize`` it finds)."""
    model = randomize_statistics_(tiny_model(name)).eval()
    x = _input(model)
    with torch.no_grad():
        torch.testing.assert_close(timm.utils.reparameterize_model(model)(x), model(x), rtol=1e-4, atol=1e-4)


CHEAP_FULL_SIZE = ["mlpv_mixer_s32", "mlpv_resmlp_12", "mlpv_gmlp_ti16", "mlpv_ffonly_tiny"]


@pytest.mark.parametrize("name", CHEAP_FULL_SIZE)
def test_full_size_forward(name):
    torch.manual_seed(0)
    model = timm.create_model(name).eval()
    with torch.no_grad():
        logits = model(torch.randn(1, 3, 224, 224))
    assert logits.shape == (1, 1000)
    assert torch.isfinite(logits).all()
