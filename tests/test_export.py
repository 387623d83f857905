"""Export with parity, for one model of each family, relative to the logits' size; bad values are one line."""

import json

import numpy as np
import pytest
import timm
import torch

from mlpvision.cli import main
from mlpvision.export import PARITY_TOLERANCE, export
from mlpvision.models import save_weights

from .conftest import HIERARCHICAL_FAMILIES, randomize_statistics_, reference_rows, tiny_kwargs

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


def _scaled_weights(name: str, tmp_path, factor: float) -> str:
    """Random weights whose logits are ``factor`` times larger (the classifier scaled)."""
    kwargs = _small_kwargs(name)
    model = randomize_statistics_(timm.create_model(name, **kwargs))
    with torch.no_grad():
        model.head.weight.mul_(factor)
        model.head.bias.mul_(factor)
    path = tmp_path / f"{name}.safetensors"
    save_weights(model, path, {"model_kwargs": json.dumps(kwargs)})
    return str(path)


def test_parity_is_relative_to_the_logits(tmp_path):
    """A correct RepMLPNet export with logits ~2,500 differs by ~1e-3 (float32 rounding of the re-parameterised
    FC), more than 1e-4 but within 1e-4 of its largest logit."""
    report = export(None, str(tmp_path / "rep.onnx"), checkpoint=_scaled_weights("mlpv_repmlpnet_t224", tmp_path, 7000))
    assert report.max_abs_logit > 2000
    assert PARITY_TOLERANCE < report.max_abs_diff <= PARITY_TOLERANCE * report.max_abs_logit


def test_a_real_difference_is_still_refused(tmp_path, monkeypatch):
    from mlpvision import export as export_module

    weights = _scaled_weights("mlpv_mixer_s16", tmp_path, 1000)
    run_onnx = export_module._run_onnx
    monkeypatch.setattr(export_module, "_run_onnx", lambda path, x: run_onnx(path, x) + 1e-3 * np.abs(
        run_onnx(path, x)).max())
    with pytest.raises(ValueError, match=r"differs from PyTorch by .* \(> .*: 0.0001 × max \|logit\|"):
        export(None, str(tmp_path / "m.onnx"), checkpoint=weights)


@pytest.mark.parametrize(("argv", "message"), [
    (["--opset", "0"], "--opset must be in [9, "),
    (["--opset", "99"], "--opset must be in [9, "),
    (["--img-size", "0"], "--img-size takes one side or a height and a width, each at least 1, got 0"),
    (["--checkpoint", "/no/such.safetensors"], "--checkpoint /no/such.safetensors: no such file or run folder"),
    (["--checkpoint", "{tmp}"], "a folder without checkpoints/best.safetensors"),
    (["-o", "{tmp}"], "a folder; name the file to write"),
])
def test_bad_export_values_are_one_line(tmp_path, capsys, argv, message):
    argv = [arg.format(tmp=tmp_path) for arg in argv]
    output = [] if "-o" in argv else ["-o", str(tmp_path / "m.onnx")]
    assert main(["export", "mlpv_mixer_s16", "--model-kwargs", "depth=1", "embed_dim=16", "img_size=32", *argv,
                 *output]) == 2
    err = capsys.readouterr().err
    assert message in err
    assert err.count("\n") == 1
