"""Weight loading through ``timm.create_model(name, pretrained=True, pretrained_cfg_overlay=dict(file=PATH))``.

Every source is a local file written by the test: our safetensors, timm checkpoints, the authors' formats. The
timm models are the reference implementation: after loading the same (random, non-zero, head included) weights the
logits must agree to 1e-5.
"""

import argparse
import os
import pickle
import re
from functools import partial

import numpy as np
import pytest
import timm
import timm.optim
import timm.scheduler
import timm.utils
import torch
from timm.models.mlp_mixer import Affine, MlpMixer, ResBlock, SpatialGatingBlock
from yacs.config import CfgNode

from mlpvision.models import CheckpointMismatchError, UnreadableCheckpointError, save_weights

from ..conftest import load_file, noise_logits, randomize_, tiny_kwargs, tiny_model

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
    """A pickle whose ``__reduce__`` would create a marker file is refused by name, and the file never appears."""
    marker = tmp_path / "executed"

    class Payload:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    torch.save({"model": Payload(), "args": argparse.Namespace(lr=1e-3)}, tmp_path / "evil.pth")
    with pytest.raises(UnreadableCheckpointError, match=r"evil\.pth holds a pickled posix\.system object, which is "
                                                        r"refused because unpickling it could run code"):
        load_file("mlpv_mixer_s16", tmp_path / "evil.pth", depth=2, embed_dim=32, img_size=64, num_classes=10)
    assert not marker.exists()


def test_pickled_objects_beside_a_yacs_config_are_not_executed(tmp_path):
    """A file with a yacs config is read by the restricted unpickler: a ``__reduce__`` payload is refused there too."""
    marker = tmp_path / "executed"

    class Payload:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    config = CfgNode(dict(MODEL=CfgNode(dict(NAME="mixer"))))
    torch.save({"config": config, "model": {"extra": Payload()}}, tmp_path / "evil.pth")
    with pytest.raises(UnreadableCheckpointError, match=r"evil\.pth holds a pickled posix\.system object, which is "
                                                        r"refused because unpickling it could run code"):
        load_file("mlpv_mixer_s16", tmp_path / "evil.pth", depth=2, embed_dim=32, img_size=64, num_classes=10)
    assert not marker.exists()


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


# ---- the authors' full training checkpoints --------------------------------------------------------------


def _trained_step(model: torch.nn.Module, opt: str = "adamw") -> tuple:
    """One real training step as the authors' scripts take it: timm optimiser, cosine schedule, EMA, loss scaler."""
    optimizer = timm.optim.create_optimizer_v2(model, opt, lr=5e-4, weight_decay=0.05)
    scheduler, _ = timm.scheduler.create_scheduler_v2(optimizer, sched="cosine", num_epochs=300, warmup_epochs=5)
    ema = timm.utils.ModelEmaV3(model, decay=0.5)
    scaler = timm.utils.NativeScaler(device="cpu")
    x = torch.randn(2, 3, *model.img_size, generator=torch.Generator().manual_seed(1))
    loss = torch.nn.functional.cross_entropy(model(x), torch.tensor([1, 2]))
    scaler(loss, optimizer, parameters=model.parameters())
    scheduler.step(1)
    ema.update(model)
    assert any(not torch.equal(a, b) for a, b in zip(ema.module.state_dict().values(),
                                                       model.state_dict().values(), strict=True))
    return optimizer, scheduler, ema, scaler


def _deit_args(model: str) -> argparse.Namespace:
    """The arguments deit-descended main.py files (deit, CycleMLP, SPACH) store under 'args' (a subset of theirs)."""
    return argparse.Namespace(
        batch_size=128, epochs=300, model=model, input_size=224, drop=0.0, drop_path=0.1, model_ema=True,
        model_ema_decay=0.99996, model_ema_force_cpu=False, opt="adamw", opt_eps=1e-8, opt_betas=None,
        clip_grad=None, momentum=0.9, weight_decay=0.05, sched="cosine", lr=5e-4, lr_noise=None, warmup_lr=1e-6,
        min_lr=1e-5, decay_epochs=30, warmup_epochs=5, cooldown_epochs=10, color_jitter=0.4,
        aa="rand-m9-mstd0.5-inc1", smoothing=0.1, train_interpolation="bicubic", repeated_aug=True, reprob=0.25,
        remode="pixel", recount=1, mixup=0.8, cutmix=1.0, cutmix_minmax=None, mixup_prob=1.0,
        mixup_switch_prob=0.5, mixup_mode="batch", teacher_model="regnety_160", teacher_path="",
        distillation_type="none", distillation_alpha=0.5, distillation_tau=1.0, finetune="",
        data_path="/datasets01/imagenet_full_size/061417/", data_set="IMNET", inat_category="name",
        output_dir="checkpoints", device="cuda", seed=0, resume="", start_epoch=0, eval=False, dist_eval=False,
        num_workers=10, pin_mem=True, world_size=8, dist_url="env://", rank=0, gpu=0, distributed=True,
        dist_backend="nccl",
    )


def _deit_checkpoint(model: torch.nn.Module, name: str, weights: dict, path) -> dict:
    """A checkpoint written as deit main.py:436-443 (CycleMLP main.py:473-480, SPACH main.py:429-436) write it."""
    optimizer, scheduler, ema, scaler = _trained_step(model)
    state = {"model": weights if weights is not None else model.state_dict(), "optimizer": optimizer.state_dict(),
             "lr_scheduler": scheduler.state_dict(), "epoch": 0, "model_ema": timm.utils.get_state_dict(ema),
             "scaler": scaler.state_dict(), "args": _deit_args(name)}
    torch.save(state, path)
    return timm.utils.get_state_dict(ema)


@pytest.mark.parametrize("name", ["mlpv_cyclemlp_b1", "mlpv_ffonly_tiny"])
def test_deit_style_training_checkpoint_loads_the_model_weights_not_the_ema(name, tmp_path):
    model = randomize_(tiny_model(name)).train()
    official = _to_official_ffonly if name == "mlpv_ffonly_tiny" else None
    _deit_checkpoint(model, name, official(model.state_dict()) if official else None, tmp_path / "checkpoint.pth")
    size = model.img_size
    loaded = load_file(name, tmp_path / "checkpoint.pth", **tiny_kwargs(name))
    assert torch.equal(noise_logits(loaded, size), noise_logits(model, size))


def _timm_train_checkpoint(model: torch.nn.Module, name: str, tmp_path) -> torch.nn.Module:
    """A checkpoint written by timm's train.py CheckpointSaver (ViP's and DynaMixer's training scripts); the EMA."""
    optimizer, _, ema, scaler = _trained_step(model)
    args = argparse.Namespace(model=name, opt="adamw", lr=2e-3, epochs=300, sched="cosine", drop_path=0.1,
                              model_ema=True, model_ema_decay=0.99996, img_size=224, mixup=0.8, cutmix=1.0,
                              smoothing=0.1, aa="rand-m9-mstd0.5-inc1", data_dir="/path/to/imagenet")
    saver = timm.utils.CheckpointSaver(model, optimizer, args=args, model_ema=ema, amp_scaler=scaler,
                                       checkpoint_dir=str(tmp_path), recovery_dir=str(tmp_path))
    saver.save_checkpoint(epoch=0, metric=1.0)
    return ema.module


@pytest.mark.parametrize(("name", "evaluated"), [("mlpv_vip_s7", "model"), ("mlpv_dynamixer_s", "ema")])
def test_timm_train_checkpoint_loads_what_the_authors_evaluate(name, evaluated, tmp_path):
    """ViP's validate.py reads 'state_dict'; DynaMixer's main.py evaluates 'state_dict_ema' (model-ema on)."""
    model = randomize_(tiny_model(name)).train()
    ema = _timm_train_checkpoint(model, name, tmp_path)
    path = tmp_path / "checkpoint-0.pth.tar"
    saved = torch.load(path, weights_only=False)  # the test's own file: only to check what the saver wrote
    assert {"state_dict", "state_dict_ema", "optimizer", "args", "amp_scaler"} <= set(saved)
    loaded = load_file(name, path, **tiny_kwargs(name))
    expected = model if evaluated == "model" else ema
    other = ema if evaluated == "model" else model
    size = model.img_size
    assert torch.equal(noise_logits(loaded, size), noise_logits(expected, size))
    assert not torch.equal(noise_logits(loaded, size), noise_logits(other, size))


def test_training_checkpoint_with_an_unknown_class_is_refused_by_name(tmp_path):
    model = tiny_model("mlpv_cyclemlp_b1")
    torch.save({"model": model.state_dict(), "args": argparse.Namespace(lr=1e-3), "extra": Payload()},
               tmp_path / "checkpoint.pth")
    with pytest.raises(UnreadableCheckpointError, match=r"holds a pickled tests\.models\.test_weights\.Payload"):
        load_file("mlpv_cyclemlp_b1", tmp_path / "checkpoint.pth", **tiny_kwargs("mlpv_cyclemlp_b1"))


class Payload:
    """A plain class: harmless, yet not something a checkpoint may make the reader import."""


# ---- files that are not checkpoints: one line naming the file and what is wrong -----------------------------


def _bad_files(tmp_path) -> dict[str, tuple]:
    """Each unreadable file a user meets, as it arises (cut downloads, wrong files, pickled arrays)."""
    model = tiny_model("mlpv_mixer_s16")
    save_weights(model, tmp_path / "good.safetensors")
    whole = (tmp_path / "good.safetensors").read_bytes()
    torch.save(model.state_dict(), tmp_path / "good.pth")
    pth = (tmp_path / "good.pth").read_bytes()
    files = {
        "truncated.safetensors": (whole[: len(whole) // 2], r"is truncated: [\d,]+ of its [\d,]+ bytes"),
        "empty.safetensors": (b"", r"is empty \(0 bytes\)"),
        "header.safetensors": (b"\xff" * 64, r"has a bad safetensors header: it declares [\d,]+ header bytes"),
        "truncated.pth": (pth[: len(pth) // 2], r"is truncated: a zip archive of [\d,]+ bytes without its central"),
        "notes.pth": (b"these are my notes, not weights\n", r"is not a PyTorch checkpoint \(it starts with"),
        "page.pth": (b"<!DOCTYPE html><html><head><title>Sign in</title></head></html>",
                     r'is an HTML page titled "Sign in", not a checkpoint'),
    }
    for name, (data, _) in files.items():
        (tmp_path / name).write_bytes(data)
    np.savez(tmp_path / "objects.npz", stem=np.array([{"a": 1}], dtype=object))
    files["objects.npz"] = (None, r"holds object arrays, which numpy would have to unpickle: refused because "
                                  r"unpickling could run code")
    with open(tmp_path / "pickle.npz", "wb") as handle:
        pickle.dump({"stem/kernel": np.zeros(3)}, handle)
    files["pickle.npz"] = (None, r"is not a \.npz archive \(no zip signature\)")
    (tmp_path / "plain.pth").write_bytes(pickle.dumps({"stem.proj.weight": [0.0]}, protocol=4))
    files["plain.pth"] = (None, r"holds pickled data that the safe loader refuses \(")
    torch.save({"model": model.state_dict(), "extra": Payload()}, tmp_path / "object.pth")
    files["object.pth"] = (None, r"holds a pickled tests\.models\.test_weights\.Payload object, which is refused")
    return files


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")  # the plain pickle, refused anyway
def test_every_unreadable_checkpoint_is_one_cli_line_naming_the_file(tmp_path, capsys):
    """``mlpvision convert`` on each: exit 2, one line with the path and the problem, no advice to unpickle."""
    from mlpvision.cli import main

    for name, (_, problem) in _bad_files(tmp_path).items():
        out = str(tmp_path / "o.safetensors")
        status = main(["convert", str(tmp_path / name), "--model", "mlpv_mixer_s16", "-o", out])
        err = capsys.readouterr().err
        assert status == 2, (name, err)
        assert err.count("\n") == 1, err
        assert re.search(re.escape(str(tmp_path / name)) + " " + problem, err), err
        assert "weights_only" not in err
        assert "allow_pickle" not in err


def test_unreadable_safetensors_in_a_run_folder_is_one_line(tmp_path, capsys):
    """``evaluate`` reads our metadata first (read_metadata): a cut file is reported the same way."""
    from mlpvision.cli import main

    (tmp_path / "cut.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{\"a\"")
    assert main(["evaluate", "--checkpoint", str(tmp_path / "cut.safetensors")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert f"{tmp_path / 'cut.safetensors'} has a bad safetensors header: it declares 16 header bytes" in err
