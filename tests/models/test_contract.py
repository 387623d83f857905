"""timm's model contract on every registered name in a tiny configuration (``tiny_kwargs``).

The feature tests here are the isotropic ones (block maps); the multi-stage ones are in ``test_hierarchical.py``.
"""

import pytest
import timm
import torch
import torch.fx
from timm.layers import get_channel_dim, get_spatial_dim, set_layer_config
from timm.models import get_notrace_functions, get_notrace_modules
from torchvision.models.feature_extraction import create_feature_extractor, get_graph_node_names

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
    assert features.shape[model.feature_dim] == model.num_features  # the axis timm's cfg tests read
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


def _fx_tracer_kwargs() -> dict:
    """What timm's FX feature extraction and its test suite hand torchvision's tracer: timm's no-trace leaves."""
    return dict(leaf_modules=get_notrace_modules(), autowrap_functions=get_notrace_functions())


@pytest.mark.parametrize("name", FAMILY_REPRESENTATIVES)
def test_torch_fx_traces_the_forward_and_keeps_the_input_checks(name):
    """``torch.fx.symbolic_trace`` takes the model (the input-size check is a leaf of the graph, not control flow)."""
    model = randomize_statistics_(tiny_model(name)).eval()
    x = _input(model)
    traced = torch.fx.symbolic_trace(model)
    with torch.no_grad():
        assert torch.equal(traced(x), model(x))
    with pytest.raises(ValueError, match="images"):
        traced(torch.randn(1, 3, x.shape[2] + 1, x.shape[3]))


@pytest.mark.parametrize("name", FAMILY_REPRESENTATIVES)
def test_fx_feature_extraction_runs_forward_and_backward(name):
    """torchvision's ``create_feature_extractor`` with timm's leaves, as timm's ``test_model_*_fx`` drive it."""
    model = randomize_(tiny_model(name))
    train_nodes, eval_nodes = get_graph_node_names(model, tracer_kwargs=_fx_tracer_kwargs())
    extractor = create_feature_extractor(model, train_return_nodes=[train_nodes[-1]],
                                         eval_return_nodes=[eval_nodes[-1]], tracer_kwargs=_fx_tracer_kwargs())
    x = _input(model)
    logits = next(iter(extractor.train()(x).values()))
    logits.mean().backward()
    assert logits.shape == (BATCH, 10)
    assert all(p.grad is not None for p in extractor.parameters())
    with torch.no_grad():
        assert torch.equal(next(iter(extractor.eval()(x).values())), model.eval()(x))


CFG_NAMES = [name for name in FAMILY_REPRESENTATIVES if not name.startswith("mlpv_ffonly")]


@pytest.mark.parametrize("name", CFG_NAMES)
def test_default_cfg_pool_size_is_the_unpooled_feature_grid(name):
    """timm's ``test_model_default_cfgs``, at full size on the meta device: ``pool_size`` and ``output_fmt`` say
    where ``forward_features``' grid is; without classifier and pooling the model returns that map."""
    with torch.device("meta"):
        model = timm.create_model(name)
        cfg = model.pretrained_cfg
        x = torch.empty(1, *cfg["input_size"])
        spatial = get_spatial_dim(model.output_fmt)
        features = model.forward_features(x)
        assert tuple(features.shape[i] for i in spatial) == tuple(cfg["pool_size"])
        assert features.shape[get_channel_dim(model.output_fmt)] == model.num_features
        assert model.forward_head(features, pre_logits=True).shape == (1, model.head_hidden_size)
        model.reset_classifier(0, "")
        unpooled = model(x)
        assert unpooled.ndim == 4
        assert tuple(unpooled.shape[i] for i in spatial) == tuple(cfg["pool_size"])
        bare = timm.create_model(name, num_classes=0, global_pool="")
        assert bare(x).shape == unpooled.shape


@pytest.mark.parametrize("name", FAMILY_REPRESENTATIVES)
def test_torchscript_scripts_the_model_and_keeps_its_function(name):
    """``torch.jit.script`` as timm's ``test_model_forward_torchscript`` drives it (built under ``exportable``)."""
    with set_layer_config(exportable=True):
        model = randomize_statistics_(timm.create_model(name, **tiny_kwargs(name))).eval()
    scripted = torch.jit.script(model)
    x = _input(model)
    with torch.no_grad():
        torch.testing.assert_close(scripted(x), model(x), rtol=1e-5, atol=1e-5)
