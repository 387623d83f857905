"""`mlpvision convert`: timm's and our checkpoints to mlpvision safetensors that keep their size, head and classes."""

import numpy as np
import onnxruntime
import pytest
import timm
import torch
from timm.models.mlp_mixer import MlpMixer

from mlpvision.cli import main
from mlpvision.convert import convert
from mlpvision.models import CheckpointMismatchError
from mlpvision.models._weights import read_metadata

from .conftest import randomize_


def test_convert_a_timm_checkpoint_to_another_size(tmp_path):
    reference = randomize_(timm.create_model("mixer_s32_224"))
    torch.save(reference.state_dict(), tmp_path / "timm.pth")
    info = convert(str(tmp_path / "timm.pth"), "mlpv_mixer_s32", str(tmp_path / "s32_288.safetensors"),
                   img_size=(288, 256))
    assert info["img_size"] == "288x256"
    assert len(info["source_sha256"]) == 64
    model = timm.create_model("mlpv_mixer_s32", img_size=(288, 256), pretrained=True,
                              pretrained_cfg_overlay=dict(file=str(tmp_path / "s32_288.safetensors")))
    assert model(torch.randn(1, 3, 288, 256)).shape == (1, 1000)
    with pytest.raises(CheckpointMismatchError, match="holds weights of mlpv_mixer_s32, not mlpv_mixer_s16"):
        timm.create_model("mlpv_mixer_s16", pretrained=True,
                          pretrained_cfg_overlay=dict(file=str(tmp_path / "s32_288.safetensors")))


def test_convert_keeps_the_checkpoint_classes_and_at_its_size_changes_nothing(tmp_path):
    reference = randomize_(timm.create_model("resmlp_12_224", num_classes=21))
    torch.save(reference.state_dict(), tmp_path / "r.pth")
    convert(str(tmp_path / "r.pth"), "mlpv_resmlp_12", str(tmp_path / "r.safetensors"))
    model = timm.create_model("mlpv_resmlp_12", num_classes=21, pretrained=True,
                              pretrained_cfg_overlay=dict(file=str(tmp_path / "r.safetensors"))).eval()
    x = torch.randn(1, 3, 224, 224)
    with torch.no_grad():
        torch.testing.assert_close(model(x), reference.eval()(x), rtol=0, atol=1e-5)


def _tiny_timm_mixer(tmp_path, num_classes=21):
    """A 21-class timm Mixer (2 blocks, 32 channels, 64x64) saved as a plain state dict."""
    reference = randomize_(MlpMixer(img_size=64, patch_size=16, num_blocks=2, embed_dim=32,
                                    num_classes=num_classes)).eval()
    torch.save(reference.state_dict(), tmp_path / "mixer.pth")
    return reference


CONVERT_TINY = ["--model", "mlpv_mixer_s16", "--model-kwargs", "depth=2", "embed_dim=32", "--img-size", "64"]


def test_exporting_a_converted_checkpoint_keeps_its_trained_head(tmp_path, capsys):
    reference = _tiny_timm_mixer(tmp_path)
    weights = tmp_path / "mixer.safetensors"
    assert main(["convert", str(tmp_path / "mixer.pth"), *CONVERT_TINY, "-o", str(weights)]) == 0
    assert "at 64x64, 21 classes, unnamed (give --class-map FILE to name them)" in capsys.readouterr().out
    assert main(["export", "--checkpoint", str(weights), "-o", str(tmp_path / "m.onnx")]) == 0
    x = torch.randn(1, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    session = onnxruntime.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"])
    logits = torch.from_numpy(session.run(None, {"images": x.numpy()})[0])
    with torch.no_grad():
        torch.testing.assert_close(logits, reference(x), rtol=0, atol=1e-4)  # the timm model's own head, 21 classes


def test_class_map_names_the_classes_and_must_fit_the_head(tmp_path, capsys):
    _tiny_timm_mixer(tmp_path, num_classes=3)
    (tmp_path / "classes.txt").write_text("cat\ndog\nbird\n")
    weights = tmp_path / "named.safetensors"
    argv = ["convert", str(tmp_path / "mixer.pth"), *CONVERT_TINY, "-o", str(weights)]
    assert main([*argv, "--class-map", str(tmp_path / "classes.txt")]) == 0
    assert read_metadata(weights)["classes"] == '["cat", "dog", "bird"]'
    again = tmp_path / "again.safetensors"  # converting our own file again keeps its names and keyword arguments
    assert main(["convert", str(weights), "--img-size", "32", "64", "-o", str(again)]) == 0
    assert read_metadata(again)["classes"] == '["cat", "dog", "bird"]'
    assert read_metadata(again)["img_size"] == "32x64"
    (tmp_path / "two.txt").write_text("cat\ndog\n")
    capsys.readouterr()
    assert main([*argv, "--class-map", str(tmp_path / "two.txt")]) == 2
    err = capsys.readouterr().err
    assert "2 class names for the 3 classes of the checkpoint's classifier" in err
    assert err.count("\n") == 1


@pytest.mark.parametrize(("argv", "message"), [
    (["{pth}", *CONVERT_TINY[:5], "--img-size", "0", "-o", "{tmp}/o.safetensors"],
     "--img-size takes one side or a height and a width, each at least 1, got 0"),
    (["{pth}", *CONVERT_TINY, "-o", "{tmp}/o.pth"], "convert writes safetensors"),
    (["{pth}", *CONVERT_TINY, "-o", "{tmp}/dir.safetensors"], "a folder; name the file to write"),
    (["{tmp}", *CONVERT_TINY, "-o", "{tmp}/o.safetensors"], "a folder; give the checkpoint file"),
    (["{tmp}/none.pth", *CONVERT_TINY, "-o", "{tmp}/o.safetensors"], "checkpoint not found"),
    (["{pth}", "-o", "{tmp}/o.safetensors"], "does not say its architecture; give --model NAME"),
    (["{pth}", *CONVERT_TINY, "--class-map", "{tmp}/none.txt", "-o", "{tmp}/o.safetensors"],
     "--class-map {tmp}/none.txt: no such file"),
])
def test_bad_convert_values_are_one_line(tmp_path, capsys, argv, message):
    _tiny_timm_mixer(tmp_path)
    (tmp_path / "dir.safetensors").mkdir()
    values = {"tmp": tmp_path, "pth": tmp_path / "mixer.pth"}
    assert main(["convert", *(arg.format(**values) for arg in argv)]) == 2
    err = capsys.readouterr().err
    assert message.format(**values) in err
    assert err.count("\n") == 1


def test_convert_cli(tmp_path, capsys):
    np.savez(tmp_path / "bad.npz", nothing=np.zeros(3))
    assert main(["convert", str(tmp_path / "bad.npz"), "--model", "mlpv_mixer_s16", "-o",
                 str(tmp_path / "o.safetensors")]) == 2
    assert "does not fit mlpv_mixer_s16" in capsys.readouterr().err
