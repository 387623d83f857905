"""Weight loading through ``timm.create_model(name, pretrained=True, pretrained_cfg_overlay=dict(file=PATH))``.

Every source is a local file written by the test: our safetensors, timm checkpoints, the authors' formats. The
timm models are the reference implementation: after loading the same (random, non-zero, head included) weights the
logits must agree to 1e-5.
"""

import re
from functools import partial

import numpy as np
import pytest
import timm
import torch
from timm.models.mlp_mixer import Affine, MlpMixer, ResBlock, SpatialGatingBlock

from mlpvision.models import CheckpointMismatchError, save_weights

from ..conftest import load_file, noise_logits, randomize_, tiny_model

TINY = dict(img_size=64, patch_size=16, num_blocks=2, embed_dim=32, num_classes=10)
TIMM_TINY_TWINS = {
    "mlpv_mixer_s16": lambda: MlpMixer(**TINY),
    "mlpv_resmlp_12": lambda: MlpMixer(**TINY, block_layer=partial(ResBlock, init_values=0.1), norm_layer=Affine,
                                       mlp_ratio=4),
    "mlpv_gmlp_s16": lambda: MlpMixer(**TINY, block_layer=SpatialGatingBlock, mlp_layer=timm.layers.GatedMlp,
                                      mlp_ratio=6),
}
FULL_SIZE_TWINS = {"mlpv_mixer_s32": "mixer_s32_224", "mlpv_resmlp_12": "resmlp_12_224",
                   "mlpv_gmlp_ti16": "gmlp_ti16_224"}




def test_own_safetensors_round_trip(tmp_path):
    model = randomize_(tiny_model("mlpv_resmlp_12"))
    save_weights(model, tmp_path / "w.safetensors")
    loaded = load_file("mlpv_resmlp_12", tmp_path / "w.safetensors", depth=2, embed_dim=32, img_size=64, num_classes=10)
    assert torch.equal(noise_logits(loaded), noise_logits(model))


@pytest.mark.parametrize("name", TIMM_TINY_TWINS)
def test_timm_checkpoint_gives_timm_logits(name, tmp_path):
    reference = randomize_(TIMM_TINY_TWINS[name]()).eval()
    torch.save(reference.state_dict(), tmp_path / "timm.pth")
    ours = load_file(name, tmp_path / "timm.pth", depth=2, embed_dim=32, img_size=64, num_classes=10)
    torch.testing.assert_close(noise_logits(ours), noise_logits(reference), rtol=0, atol=1e-5)


@pytest.mark.parametrize(("name", "timm_name"), FULL_SIZE_TWINS.items())
def test_full_size_timm_checkpoint_gives_timm_logits(name, timm_name, tmp_path):
    reference = randomize_(timm.create_model(timm_name)).eval()
    torch.save({"state_dict": reference.state_dict()}, tmp_path / "timm.pth")  # nested, as timm's train.py saves
    ours = load_file(name, tmp_path / "timm.pth")
    torch.testing.assert_close(noise_logits(ours, 224, 1), noise_logits(reference, 224, 1), rtol=0, atol=1e-5)


def _to_official_resmlp(state: dict) -> dict:
    """timm's ResMLP keys → the official facebookresearch/deit ones (inverse of timm's checkpoint_filter_fn)."""
    out = {}
    for key, value in state.items():
        key = key.replace("stem.", "patch_embed.").replace("linear_tokens.", "attn.").replace("mlp_channels.", "mlp.")
        key = re.sub(r"\.ls(\d)$", r".gamma_\1", key)
        out[key] = value.reshape(-1) if key.endswith((".alpha", ".beta")) else value
    return out


def test_official_resmlp_state_dict(tmp_path):
    reference = randomize_(TIMM_TINY_TWINS["mlpv_resmlp_12"]()).eval()
    official = _to_official_resmlp(reference.state_dict())
    assert "blocks.0.gamma_1" in official
    assert official["blocks.0.norm1.alpha"].shape == (32,)
    torch.save(official, tmp_path / "resmlp_12_no_dist.pth")  # a bare state dict, as the release files
    ours = load_file("mlpv_resmlp_12", tmp_path / "resmlp_12_no_dist.pth", depth=2, embed_dim=32, img_size=64,
                 num_classes=10)
    torch.testing.assert_close(noise_logits(ours), noise_logits(reference), rtol=0, atol=1e-5)


def _to_jax_mixer(state: dict) -> dict:
    """timm's Mixer keys → the official Flax parameter tree, as flattened into an .npz ('/'-joined names)."""
    out = {"stem/kernel": state["stem.proj.weight"].permute(2, 3, 1, 0), "stem/bias": state["stem.proj.bias"],
           "pre_head_layer_norm/scale": state["norm.weight"], "pre_head_layer_norm/bias": state["norm.bias"],
           "head/kernel": state["head.weight"].t(), "head/bias": state["head.bias"]}
    blocks = {int(key.split(".")[1]) for key in state if key.startswith("blocks.")}
    for i in blocks:
        p = f"blocks.{i}."
        for ours, theirs in (("norm1", "LayerNorm_0"), ("norm2", "LayerNorm_1")):
            out[f"MixerBlock_{i}/{theirs}/scale"] = state[p + ours + ".weight"]
            out[f"MixerBlock_{i}/{theirs}/bias"] = state[p + ours + ".bias"]
        for ours, theirs in (("mlp_tokens", "token_mixing"), ("mlp_channels", "channel_mixing")):
            for fc, dense in (("fc1", "Dense_0"), ("fc2", "Dense_1")):
                out[f"MixerBlock_{i}/{theirs}/{dense}/kernel"] = state[f"{p}{ours}.{fc}.weight"].t()
                out[f"MixerBlock_{i}/{theirs}/{dense}/bias"] = state[f"{p}{ours}.{fc}.bias"]
    return {key: value.numpy() for key, value in out.items()}


def test_official_jax_mixer_npz(tmp_path):
    reference = randomize_(TIMM_TINY_TWINS["mlpv_mixer_s16"]()).eval()
    np.savez(tmp_path / "Mixer-B_16.npz", **_to_jax_mixer(reference.state_dict()))
    ours = load_file("mlpv_mixer_s16", tmp_path / "Mixer-B_16.npz", depth=2, embed_dim=32, img_size=64, num_classes=10)
    torch.testing.assert_close(noise_logits(ours), noise_logits(reference), rtol=0, atol=1e-5)


def _to_official_ffonly(state: dict) -> dict:
    renames = (("stem.", "patch_embed."), ("stages.0.blocks.", "blocks."), ("channel_mlp.", "mlp1."),
               ("channel_norm.", "norm1."), ("token_mlp.", "mlp2."), ("token_norm.", "norm2."))
    out = {}
    for key, value in state.items():
        for ours, theirs in renames:
            key = key.replace(ours, theirs)
        if key in ("pos_embed", "cls_pos_embed"):
            key = "pos_encoding." + key
        out[key] = value
    return out


def test_official_ffonly_layout_matches_the_release_keys():
    """Our FF-only tiny, in the official layout, has exactly the keys and shapes of the released ``linear_tiny``."""
    with torch.device("meta"):
        official = _to_official_ffonly(timm.create_model("mlpv_ffonly_tiny").state_dict())
    assert official["blocks.0.mlp2.fc1.weight"].shape == (788, 197)
    assert official["blocks.0.mlp2.fc2.weight"].shape == (197, 788)
    assert official["blocks.11.norm2.weight"].shape == (197,)
    assert official["pos_encoding.pos_embed"].shape == (1, 192, 14, 14)
    assert official["pos_encoding.cls_pos_embed"].shape == (1, 1, 192)
    expected = {"cls_token", "patch_embed.proj.weight", "patch_embed.proj.bias", "pos_encoding.pos_embed",
                "pos_encoding.cls_pos_embed", "norm.weight", "norm.bias", "head.weight", "head.bias"}
    for i in range(12):
        for part in ("mlp1.fc1", "mlp1.fc2", "norm1", "mlp2.fc1", "mlp2.fc2", "norm2"):
            expected |= {f"blocks.{i}.{part}.weight", f"blocks.{i}.{part}.bias"}
    assert set(official) == expected


def test_official_ffonly_checkpoint(tmp_path):
    model = randomize_(tiny_model("mlpv_ffonly_tiny"))
    torch.save({"model": _to_official_ffonly(model.state_dict()), "epoch": 299}, tmp_path / "linear-tiny.pth")
    loaded = load_file("mlpv_ffonly_tiny", tmp_path / "linear-tiny.pth", depth=2, embed_dim=32, img_size=64,
                   num_classes=10)
    assert torch.equal(noise_logits(loaded), noise_logits(model))


# ---- checkpoints that do not fit --------------------------------------------------------------------------


def test_checkpoint_of_another_family_lists_the_keys(tmp_path):
    torch.save(randomize_(TIMM_TINY_TWINS["mlpv_resmlp_12"]()).state_dict(), tmp_path / "resmlp.pth")
    with pytest.raises(CheckpointMismatchError) as error:
        load_file("mlpv_mixer_s16", tmp_path / "resmlp.pth", depth=2, embed_dim=32, img_size=64, num_classes=10)
    message = str(error.value)
    assert "does not fit mlpv_mixer_s16" in message
    assert "missing keys: " in message
    assert "stages.0.blocks.0.norm1.weight" in message
    assert "unexpected keys: " in message
    assert "stages.0.blocks.0.norm1.alpha" in message


def test_checkpoint_with_other_shapes_is_refused(tmp_path):
    save_weights(randomize_(tiny_model("mlpv_mixer_s16", embed_dim=48)), tmp_path / "w.safetensors")
    with pytest.raises(CheckpointMismatchError, match=r"mis-shaped keys: .*checkpoint \(48"):
        load_file("mlpv_mixer_s16", tmp_path / "w.safetensors", depth=2, embed_dim=32, img_size=64, num_classes=10)


def test_missing_key_is_refused(tmp_path):
    state = randomize_(TIMM_TINY_TWINS["mlpv_mixer_s16"]()).state_dict()
    del state["blocks.1.mlp_channels.fc2.bias"]
    torch.save(state, tmp_path / "partial.pth")
    with pytest.raises(CheckpointMismatchError, match=r"missing keys: stages\.0\.blocks\.1\.mlp\.fc2\.bias"):
        load_file("mlpv_mixer_s16", tmp_path / "partial.pth", depth=2, embed_dim=32, img_size=64, num_classes=10)


def test_safetensors_of_another_architecture_is_refused(tmp_path):
    save_weights(tiny_model("mlpv_gmlp_s16"), tmp_path / "gmlp.safetensors")
    with pytest.raises(CheckpointMismatchError, match="holds weights of mlpv_gmlp_s16, not mlpv_gmlp_ti16"):
        load_file("mlpv_gmlp_ti16", tmp_path / "gmlp.safetensors", depth=2, embed_dim=32, img_size=64, num_classes=10)


def test_pickled_objects_are_not_executed(tmp_path):
    class Payload:
        def __reduce__(self):
            return (exec, ("raise SystemExit('executed')",))

    torch.save({"model": Payload()}, tmp_path / "evil.pth")
    with pytest.raises(CheckpointMismatchError, match="cannot read"):
        load_file("mlpv_mixer_s16", tmp_path / "evil.pth", depth=2, embed_dim=32, img_size=64, num_classes=10)


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="checkpoint not found"):
        load_file("mlpv_mixer_s16", tmp_path / "nope.pth")


def test_other_number_of_classes_keeps_a_fresh_head(tmp_path, caplog):
    model = randomize_(tiny_model("mlpv_mixer_s16"))
    save_weights(model, tmp_path / "w.safetensors")
    loaded = load_file("mlpv_mixer_s16", tmp_path / "w.safetensors", depth=2, embed_dim=32, img_size=64, num_classes=3)
    torch.testing.assert_close(loaded.forward_features(torch.ones(1, 3, 64, 64)),
                               model.eval().forward_features(torch.ones(1, 3, 64, 64)))
    assert "classifier head.weight not loaded" in caplog.text


def test_gelu_tanh_option_matches_the_flax_activation():
    exact = tiny_model("mlpv_mixer_s16")
    tanh = tiny_model("mlpv_mixer_s16", gelu="tanh")
    tanh.load_state_dict(exact.state_dict())
    activations = {m.approximate for m in tanh.modules() if isinstance(m, torch.nn.GELU)}
    assert activations == {"tanh"}
    randomize_(exact)
    tanh.load_state_dict(exact.state_dict())
    assert not torch.equal(noise_logits(tanh), noise_logits(exact))


def test_folded_resmlp_block_computes_the_plain_block():
    """ResMlpBlock's folded computation equals MetaFormerBlock's on the same parameters, outputs and gradients."""
    from mlpvision.layers import Affine, MetaFormerBlock, TokenLinear
    from mlpvision.models.resmlp import ResMlpBlock

    torch.manual_seed(0)
    folded = ResMlpBlock(16, (3, 4), drop_path=0.0, init_values=0.3)
    plain = MetaFormerBlock(16, TokenLinear(16, (3, 4)), timm.layers.Mlp(16, 64), norm_layer=Affine,
                            layer_scale_init=0.3)
    randomize_(folded)
    plain.load_state_dict(folded.state_dict())
    x = torch.randn(2, 3, 4, 16, requires_grad=True)
    y = torch.randn(2, 3, 4, 16)
    torch.testing.assert_close(folded(x), plain(x), rtol=1e-5, atol=1e-6)
    (folded(x) * y).sum().backward()
    folded_grads = {n: p.grad.clone() for n, p in folded.named_parameters()}
    (plain(x) * y).sum().backward()
    for name, param in plain.named_parameters():
        torch.testing.assert_close(folded_grads[name], param.grad, rtol=1e-4, atol=1e-6)
