"""sMLPNet: the authors' (SPACH) checkpoint layout, input sizes, counts (the sparse MLP: tests/layers)."""

import re

import pytest
import timm
import torch

from mlpvision.models import save_weights

from ..conftest import load_file, noise_logits, randomize_statistics_, reference_rows

ROWS = reference_rows(("smlpnet",))
NAMES = [row["name"] for row in ROWS]
TINY = dict(depths=(1, 1, 1, 1), embed_dims=(8, 16, 32, 64), img_size=64, num_classes=10, drop_path_rate=0.0)
# the shared contract suites' configuration (conftest.tiny_kwargs)
TINY_KWARGS = dict(depths=(1, 1, 1, 1), embed_dims=(16, 32, 64, 128), img_size=64, drop_path_rate=0.0)


def _tiny(name: str, **kwargs) -> torch.nn.Module:
    torch.manual_seed(0)
    return timm.create_model(name, **{**TINY, **kwargs})




# ---- the sparse MLP --------------------------------------------------------------------------------------------


# ---- the authors' checkpoint layout --------------------------------------------------------------------------

_TO_SPACH = {
    "dwconv_norm": "token_mix.{k}.0.conv_merge.BN",
    "dwconv": "token_mix.{k}.0.conv_merge.Conv",
    "smlp_norm": "token_mix.{k}.1.BN",
    "token_mixer.mix_width": "token_mix.{k}.1.proj_h",
    "token_mixer.mix_height": "token_mix.{k}.1.proh_w",
    "token_mixer.fusion": "token_mix.{k}.1.fuse",
    "channel_norm": "channel_mix.{k}.1",
    "mlp.fc1": "channel_mix.{k}.2.net.0",
    "mlp.fc2": "channel_mix.{k}.2.net.3",
}


def _to_spach(state: dict, depths: tuple[int, ...]) -> dict:
    """Our keys → microsoft/SPACH ``sMLPNet`` (blocks numbered over all stages, 1×1 convs for the mixing)."""
    out = {}
    for key, value in state.items():
        if key.startswith("stem.proj."):
            key = "to_patch_embedding.0.0." + key.split(".")[-1]
        elif match := re.match(r"stages\.(\d+)\.downsample\.proj\.(\w+)$", key):
            key = f"to_patch_embedding.{match[1]}.0.{match[2]}"
        elif match := re.match(r"stages\.(\d+)\.blocks\.(\d+)\.(.+)\.(\w+)$", key):
            k = sum(depths[: int(match[1])]) + int(match[2])
            key = _TO_SPACH[match[3]].format(k=k) + "." + match[4]
            if match[3] in ("token_mixer.mix_width", "token_mixer.mix_height") and match[4] == "weight":
                value = value[:, :, None, None]
        elif key.startswith("norm."):
            key = "batch_norm." + key.removeprefix("norm.")
        elif key.startswith("head."):
            key = "mlp_head.0." + key.removeprefix("head.")
        out[key] = value
    return out


def test_spach_layout_of_smlpnet_t_has_the_authors_keys_and_shapes():
    """As the official model built from SPACH ``smlp.py``: 26 layers, grids 56/28/14/7, proj_h is (H, H, 1, 1)."""
    with torch.device("meta"):
        spach = _to_spach(timm.create_model("mlpv_smlpnet_t").state_dict(), (2, 8, 14, 2))
    bn = ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")
    expected = {f"to_patch_embedding.{s}.0.weight" for s in range(4)}
    expected |= {f"batch_norm.{leaf}" for leaf in bn} | {"mlp_head.0.weight", "mlp_head.0.bias"}
    for k in range(26):
        expected |= {f"token_mix.{k}.0.conv_merge.BN.{leaf}" for leaf in bn}
        expected |= {f"token_mix.{k}.1.BN.{leaf}" for leaf in bn}
        expected |= {f"token_mix.{k}.0.conv_merge.Conv.weight", f"token_mix.{k}.1.fuse.weight"}
        for part in ("token_mix.{k}.1.proj_h", "token_mix.{k}.1.proh_w", "channel_mix.{k}.1",
                     "channel_mix.{k}.2.net.0", "channel_mix.{k}.2.net.3"):
            expected |= {part.format(k=k) + ".weight", part.format(k=k) + ".bias"}
    assert set(spach) == expected
    assert spach["to_patch_embedding.0.0.weight"].shape == (80, 3, 4, 4)
    assert spach["to_patch_embedding.3.0.weight"].shape == (640, 320, 2, 2)
    assert spach["token_mix.0.0.conv_merge.Conv.weight"].shape == (80, 1, 3, 3)
    assert spach["token_mix.0.1.proj_h.weight"].shape == (56, 56, 1, 1)
    assert spach["token_mix.25.1.proh_w.weight"].shape == (7, 7, 1, 1)
    assert spach["token_mix.25.1.fuse.weight"].shape == (640, 1920, 1, 1)
    assert spach["channel_mix.10.2.net.0.weight"].shape == (960, 320)


@pytest.mark.parametrize("name", NAMES)
def test_spach_checkpoint_loads_with_identical_logits(name, tmp_path):
    depths = (1, 2, 1, 1)
    model = randomize_statistics_(_tiny(name, depths=depths))
    torch.save({"model": _to_spach(model.state_dict(), depths)}, tmp_path / "smlp.pth")
    loaded = load_file(name, tmp_path / "smlp.pth", **{**TINY, "depths": depths})
    assert torch.equal(noise_logits(loaded), noise_logits(model))


def test_own_checkpoint_passes_the_filter_unchanged(tmp_path):
    model = randomize_statistics_(_tiny("mlpv_smlpnet_s"))
    save_weights(model, tmp_path / "w.safetensors")
    loaded = load_file("mlpv_smlpnet_s", tmp_path / "w.safetensors", **TINY)
    assert torch.equal(noise_logits(loaded), noise_logits(model))


def test_own_checkpoint_of_the_earlier_key_names_loads(tmp_path):
    """Checkpoints saved before the channel norm was renamed (``mlp_norm`` → ``channel_norm``) keep loading."""
    model = randomize_statistics_(_tiny("mlpv_smlpnet_t"))
    old = {key.replace(".channel_norm.", ".mlp_norm."): value for key, value in model.state_dict().items()}
    assert any(".mlp_norm." in key for key in old)
    torch.save(old, tmp_path / "old.pth")
    loaded = load_file("mlpv_smlpnet_t", tmp_path / "old.pth", **TINY)
    assert torch.equal(noise_logits(loaded), noise_logits(model))


# ---- input sizes ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("spach_layout", [False, True], ids=["ours", "spach"])
def test_checkpoint_loads_unchanged_at_its_size_and_resampled_at_another(spach_layout, tmp_path):
    source = randomize_statistics_(_tiny("mlpv_smlpnet_t"))
    if spach_layout:  # no metadata: the grid is read from the square mixing matrices
        path = tmp_path / "smlp.pth"
        torch.save({"model": _to_spach(source.state_dict(), TINY["depths"])}, path)
    else:
        path = tmp_path / "w.safetensors"
        save_weights(source, path)
    same = load_file("mlpv_smlpnet_t", path, **TINY)
    assert torch.equal(noise_logits(same), noise_logits(source))
    other = load_file("mlpv_smlpnet_t", path, **{**TINY, "img_size": (96, 128)})
    assert torch.isfinite(noise_logits(other, (96, 128))).all()
    mixer = other.stages[0].blocks[0].token_mixer
    assert mixer.mix_height.weight.shape == (24, 24)
    assert mixer.mix_width.weight.shape == (32, 32)
    reference = source.state_dict()
    for key, value in other.state_dict().items():
        if "mix_height" not in key and "mix_width" not in key:
            assert torch.equal(value, reference[key]), key


def test_wrong_size_is_a_clear_error_and_non_square_builds_work():
    model = _tiny("mlpv_smlpnet_b")
    with pytest.raises(ValueError, match=r"built for 64x64 images, got 96x64.*img_size=\(96, 64\)"):
        model(torch.randn(1, 3, 96, 64))
    wide = _tiny("mlpv_smlpnet_b", img_size=(64, 160)).eval()
    assert wide(torch.randn(2, 3, 64, 160)).shape == (2, 10)
    assert [m.grid_size for m in (s.blocks[0].token_mixer for s in wide.stages)] == [(16, 40), (8, 20), (4, 10),
                                                                                       (2, 5)]


# ---- variants -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "rate"), [("mlpv_smlpnet_t", 0.0), ("mlpv_smlpnet_s", 0.2), ("mlpv_smlpnet_b", 0.3)])
def test_drop_path_follows_the_authors_registry(name, rate):
    with torch.device("meta"):
        model = timm.create_model(name)
    rates = [getattr(block.drop_path1, "drop_prob", 0.0) for block in model.blocks]
    assert rates[0] == 0.0
    assert rates[-1] == pytest.approx(rate)
    assert all(getattr(block.drop_path2, "drop_prob", 0.0) == r for block, r in zip(model.blocks, rates, strict=True))


def test_released_weights_are_named():
    for name, file in (("mlpv_smlpnet_s", "smlp_s.pth"), ("mlpv_smlpnet_b", "smlp_b.pth")):
        with torch.device("meta"):
            cfg = timm.create_model(name).pretrained_cfg
        assert cfg["url"] == f"https://github.com/microsoft/SPACH/releases/download/v1.0/{file}"
    assert timm.models.get_pretrained_cfg("mlpv_smlpnet_t").url == ""
