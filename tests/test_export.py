"""Export with parity, for one model of each family; the checkpoint converter; the model table as JSON."""

import json

import numpy as np
import pytest
import timm
import torch

from mlpvision.cli import main
from mlpvision.convert import convert
from mlpvision.export import PARITY_TOLERANCE, export
from mlpvision.models import CheckpointMismatchError, save_weights

from .conftest import HIERARCHICAL_FAMILIES, randomize_, randomize_statistics_, reference_rows, tiny_kwargs

ISOTROPIC = ["mlpv_mixer_s16", "mlpv_resmlp_12", "mlpv_gmlp_s16", "mlpv_ffonly_tiny", "mlpv_mixer_b16_ccs",
             "mlpv_s2mlp_deep"]
MULTI_STAGE = [reference_rows((family,))[0]["name"] for family in HIERARCHICAL_FAMILIES]
FAMILIES = ISOTROPIC + MULTI_STAGE
SMALL = {"depth": 2, "embed_dim": 64}


def _small_kwargs(name: str) -> dict:
    if name in ISOTROPIC:
        return SMALL
    return {key: value for key, value in tiny_kwargs(name).items() if key != "num_classes"}


def _trained_weights(name: str, tmp_path) -> str:
    kwargs = _small_kwargs(name)
    model = randomize_statistics_(timm.create_model(name, **kwargs))
    path = tmp_path / f"{name}.safetensors"
    save_weights(model, path, {"model_kwargs": json.dumps(kwargs)})
    return str(path)


@pytest.mark.parametrize("fmt", ["onnx", "torch-export"])
@pytest.mark.parametrize("name", FAMILIES)
def test_export_every_family_with_parity(name, fmt, tmp_path):
    suffix = "onnx" if fmt == "onnx" else "pt2"
    report = export(None, str(tmp_path / f"m.{suffix}"), fmt=fmt, checkpoint=_trained_weights(name, tmp_path),
                    dynamic_batch=True)
    assert report.model == name
    assert report.max_abs_diff <= PARITY_TOLERANCE
    assert report.max_abs_logit > 0.05  # random non-zero weights: the parity is not trivially 0 == 0
    assert report.batch_sizes_checked == [2, 1, 3]


def test_export_cli_prints_the_parity(tmp_path, capsys):
    weights = _trained_weights("mlpv_resmlp_12", tmp_path)
    assert main(["export", "--checkpoint", weights, "--format", "onnx", "-o", str(tmp_path / "m.onnx")]) == 0
    assert "max |Δlogits| =" in capsys.readouterr().out
    assert main(["export", "mlpv_resmlp_12", "--format", "torch-export", "-o", str(tmp_path / "m.onnx")]) == 2
    assert "saved as .pt2 files" in capsys.readouterr().err


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


def test_convert_cli(tmp_path, capsys):
    np.savez(tmp_path / "bad.npz", nothing=np.zeros(3))
    assert main(["convert", str(tmp_path / "bad.npz"), "--model", "mlpv_mixer_s16", "-o", str(tmp_path / "o")]) == 2
    assert "does not fit mlpv_mixer_s16" in capsys.readouterr().err
