"""Token-weight plots have one panel per filter; robustness numbers agree with hand-computed cases."""

import pytest
import torch
from PIL import Image
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from mlpvision.analyze import (
    patch_shuffle,
    pixel_shuffle,
    plot_token_weights,
    robustness,
    robustness_conditions,
    shift,
    token_filters,
)

from .conftest import randomize_, tiny_model


def test_filters_and_panel_counts(tmp_path):
    mixer = tiny_model("mlpv_mixer_s16")  # token MLP hidden 0.5·32 = 16 units over a 4x4 grid
    filters, what = token_filters(mixer)
    assert filters.shape == (16, 4, 4)
    assert "hidden units" in what
    assert plot_token_weights(mixer, tmp_path / "mixer.png", max_filters=64) == 16
    assert plot_token_weights(mixer, tmp_path / "mixer9.png", max_filters=9) == 9
    assert token_filters(tiny_model("mlpv_resmlp_12"))[0].shape == (16, 4, 4)
    assert token_filters(tiny_model("mlpv_gmlp_s16"), block=1)[0].shape == (16, 4, 4)
    assert token_filters(tiny_model("mlpv_resmlp_36_ccs"))[0].shape == (8, 4, 4)
    assert token_filters(tiny_model("mlpv_ffonly_tiny"))[0].shape == (788, 4, 4)
    with Image.open(tmp_path / "mixer9.png") as image:
        assert image.size[0] > 100


def test_multi_stage_models_are_refused_with_the_reason():
    with pytest.raises(ValueError, match="multi-stage model; `analyze weights` draws .* isotropic models"):
        token_filters(tiny_model("mlpv_vip_s7"))


def test_patch_shuffle_by_hand():
    image = torch.arange(16.0).reshape(1, 1, 4, 4)  # tiles (2x2): [0,1,4,5] [2,3,6,7] [8,9,12,13] [10,11,14,15]
    shuffled = patch_shuffle(image, 2, torch.tensor([3, 2, 1, 0]))
    expected = torch.tensor([[10.0, 11, 8, 9], [14, 15, 12, 13], [2, 3, 0, 1], [6, 7, 4, 5]])
    torch.testing.assert_close(shuffled[0, 0], expected)


def test_whole_and_half_patch_shifts_by_hand():
    image = torch.arange(16.0).reshape(1, 1, 4, 4)
    conditions = robustness_conditions(4, 4, patch=2)
    down = torch.tensor([[8.0, 9, 10, 11], [12, 13, 14, 15], [0, 1, 2, 3], [4, 5, 6, 7]])
    right = torch.tensor([[2.0, 3, 0, 1], [6, 7, 4, 5], [10, 11, 8, 9], [14, 15, 12, 13]])
    half_down = torch.tensor([[12.0, 13, 14, 15], [0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11]])
    half_right = torch.tensor([[3.0, 0, 1, 2], [7, 4, 5, 6], [11, 8, 9, 10], [15, 12, 13, 14]])
    torch.testing.assert_close(conditions["shift 1 patch down (2 px)"](image)[0, 0], down)
    torch.testing.assert_close(conditions["shift 1 patch right (2 px)"](image)[0, 0], right)
    torch.testing.assert_close(conditions["shift 1 px down (half patch)"](image)[0, 0], half_down)
    torch.testing.assert_close(conditions["shift 1 px right (half patch)"](image)[0, 0], half_right)


def test_ccs_is_invariant_to_a_whole_patch_shift_down_only():
    """The circulant mixes raster-ordered tokens (CCS Eq. 7): a shift by one row of patches is a raster shift by a
    row of tokens, which a circulant commutes with and mean pooling forgets; a shift right wraps tokens within their
    row, which is no raster shift; the vanilla token MLP commutes with neither."""
    x = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    conditions = robustness_conditions(64, 64, patch=16)

    def change(model: nn.Module, condition: str) -> float:
        with torch.no_grad():
            return (model(conditions[condition](x)) - model(x)).abs().max().item()

    # float64, so that rounding (~1e-16) stays far below the changes of a model that is not invariant (~1e-5)
    ccs, mixer = (randomize_(tiny_model(name)).double().eval() for name in ("mlpv_mixer_b16_ccs", "mlpv_mixer_b16"))
    assert change(ccs, "shift 1 patch down (16 px)") < 1e-12
    assert change(ccs, "shift 1 patch right (16 px)") > 1e-7
    assert change(ccs, "shift 8 px down (half patch)") > 1e-7
    assert change(mixer, "shift 1 patch down (16 px)") > 1e-7


def test_pixel_shuffle_and_shift_by_hand():
    image = torch.arange(4.0).reshape(1, 1, 2, 2)
    torch.testing.assert_close(pixel_shuffle(image, torch.tensor([3, 0, 2, 1]))[0, 0], torch.tensor([[3.0, 0], [2, 1]]))
    torch.testing.assert_close(shift(image, 1)[0, 0], torch.tensor([[3.0, 2], [1, 0]]))


class _Brightness(nn.Module):
    """Class 1 when the mean intensity is positive: blind to where pixels are."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mean = x.mean(dim=(1, 2, 3))
        return torch.stack([-mean, mean], dim=1)


def test_robustness_of_a_position_blind_model_is_unchanged():
    images = torch.cat([torch.full((3, 3, 8, 8), 1.0), torch.full((1, 3, 8, 8), -1.0)])
    images[:, :, 0, 0] = 5.0  # structure that shuffles move, which a position-blind model ignores
    labels = torch.tensor([1, 1, 0, 0])  # the last-but-one image is labelled wrong on purpose: 3 of 4 right
    results = robustness(_Brightness(), DataLoader(TensorDataset(images, labels), batch_size=3), patch=4)
    assert len(results) == 9
    assert [r.top1 for r in results] == [75.0] * 9
    assert [r.change for r in results] == [0.0] * 9
    assert [r.name for r in results][:3] == ["original", "patch shuffle (4x4)", "pixel shuffle"]


def test_analyze_cli_on_a_trained_run(tmp_path, capsys):
    from mlpvision.cli import main

    run = tmp_path / "run"
    assert main(["train", "--out", str(run), "--epochs", "2", "--model-kwargs", "patch_size=2", "depth=2",
                 "embed_dim=32"]) == 0
    assert main(["analyze", "weights", "--checkpoint", str(run), "--out", str(tmp_path / "a")]) == 0
    assert main(["analyze", "robustness", "--checkpoint", str(run), "--out", str(tmp_path / "a")]) == 0
    assert (tmp_path / "a/token_weights.png").is_file()
    assert (tmp_path / "a/robustness.png").is_file()
    assert "pixel shuffle" in capsys.readouterr().out
