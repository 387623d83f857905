"""Input size: a clear error for the wrong size, other sizes by ``img_size=``, resampled token-mixing weights."""

import pytest
import timm
import torch

from mlpvision.layers import resize_token_axis
from mlpvision.models import save_weights

from ..conftest import randomize_, reference_rows, tiny_model

GRID_SIZED = [row["name"] for row in reference_rows() if not tiny_model(row["name"]).size_agnostic]
RESAMPLED = ["mlpv_mixer_s16", "mlpv_resmlp_12", "mlpv_gmlp_s16", "mlpv_ffonly_tiny", "mlpv_mixer_b16_ccs",
             "mlpv_resmlp_36_ccs"]


@pytest.mark.parametrize("name", GRID_SIZED)
def test_wrong_size_names_the_built_size_and_the_fix(name):
    model = tiny_model(name)
    side = model.img_size[0]
    with pytest.raises(ValueError, match=rf"built for {side}x{side} images, got {2 * side}x{side}.*img_size="):
        model(torch.randn(1, 3, 2 * side, side))


def test_wrong_channels_is_a_clear_error():
    with pytest.raises(ValueError, match=r"takes images shaped \[batch, 3, height, width\]"):
        tiny_model("mlpv_mixer_s16")(torch.randn(1, 1, 64, 64))


def test_full_size_message_suggests_create_model():
    with torch.device("meta"):
        model = timm.create_model("mlpv_mixer_b16")
    with pytest.raises(ValueError, match=r"timm.create_model\('mlpv_mixer_b16', img_size=\(256, 256\)\)"):
        model(torch.empty(1, 3, 256, 256, device="meta"))


def test_s2mlp_takes_any_multiple_of_the_patch():
    model = tiny_model("mlpv_s2mlp_wide").eval()
    assert model(torch.randn(1, 3, 48, 96)).shape == (1, 10)
    with pytest.raises(ValueError, match="multiples of 16"):
        model(torch.randn(1, 3, 50, 96))


@pytest.mark.parametrize("name", GRID_SIZED)
def test_non_square_build(name):
    stride = tiny_model(name).input_stride
    model = tiny_model(name, img_size=(3 * stride, 5 * stride)).eval()
    assert model(torch.randn(2, 3, 3 * stride, 5 * stride)).shape == (2, 10)


@pytest.mark.parametrize("name", RESAMPLED)
def test_checkpoint_loads_unchanged_at_its_own_size_and_resampled_at_another(name, tmp_path):
    source = randomize_(tiny_model(name)).eval()
    save_weights(source, tmp_path / "w.safetensors")
    overlay = dict(file=str(tmp_path / "w.safetensors"))
    args = dict(depth=2, embed_dim=32, num_classes=10)
    same = timm.create_model(name, pretrained=True, pretrained_cfg_overlay=overlay, img_size=64, **args).eval()
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        assert torch.equal(same(x), source(x))
        other = timm.create_model(name, pretrained=True, pretrained_cfg_overlay=overlay, img_size=(48, 80), **args)
        out = other.eval()(torch.randn(2, 3, 48, 80))
    assert torch.isfinite(out).all()
    # everything but the grid-sized token weights is carried over unchanged
    for key, value in other.state_dict().items():
        if value.shape == source.state_dict()[key].shape:
            assert torch.equal(value, source.state_dict()[key]), key


def test_resize_keeps_the_response_to_a_constant_input():
    """Bicubic resizing keeps a constant map constant; the summed axis is rescaled by N_old / N_new."""
    weight = torch.full((16, 16), 0.5)  # (out, in) over a 4x4 grid
    resized = resize_token_axis(resize_token_axis(weight, 1, (4, 4), (6, 3), summed=True), 0, (4, 4), (6, 3),
                                summed=False)
    assert resized.shape == (18, 18)
    torch.testing.assert_close(weight @ torch.ones(16), torch.full((16,), 8.0))
    torch.testing.assert_close(resized @ torch.ones(18), torch.full((18,), 8.0))


def test_resize_keeps_prefix_tokens():
    weight = torch.arange(17.0).reshape(1, 17)
    resized = resize_token_axis(weight, 1, (4, 4), (2, 2), summed=False, prefix_tokens=1)
    assert resized.shape == (1, 5)
    assert resized[0, 0] == 0.0
