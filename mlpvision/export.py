"""Export a model to ONNX or ``torch.export`` and measure the parity of the exported program on a real image.

The real input is a photograph that ships with scikit-learn (``china.jpg``), pre-processed by the model's own eval
transform. Models are exported in their inference form (``exportable``): each form computes the same function as
the training form (tests hold CCS's two forms to 1e-5, the Cycle FC's to 1e-5 and RepMLP's re-parameterisation
to 1e-4), and the parity is measured against the form exported.
"""

import dataclasses
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import nn

from .data import build_transforms, data_config
from .layers import TokenMixer
from .trained import load_model

# the opsets torch's exporter writes (its base and newest; torch has no public constant for them)
_OPSETS = torch.onnx._constants
ONNX_OPSETS = (getattr(_OPSETS, "ONNX_BASE_OPSET", 9), getattr(_OPSETS, "ONNX_MAX_OPSET", 20))
PARITY_TOLERANCE = 1e-4  # relative to the largest |logit| (at least 1): float32 rounding grows with the values


@dataclasses.dataclass
class ExportReport:
    model: str
    format: str
    path: str
    max_abs_diff: float
    max_abs_logit: float
    batch_sizes_checked: list[int]


def sample_image() -> Image.Image:
    """A real photograph (scikit-learn's ``china.jpg``, 640x427), available offline."""
    from sklearn.datasets import load_sample_image

    return Image.fromarray(load_sample_image("china.jpg"))


def exportable(model: nn.Module) -> nn.Module:
    """The model in eval mode with every token mixer in its export form (``TokenMixer.to_export_form``).

    E.g. CCS by its dense circulant matrices (ONNX has no complex FFT), Cycle FCs by shifts (no
    ``deform_conv2d``), RepMLP blocks re-parameterised (Locality Injection: one FC3 instead of FC3, BN and convs).
    """
    model.eval()
    for module in model.modules():
        if isinstance(module, TokenMixer):
            module.to_export_form()
    return model


def real_input(model: nn.Module, img_size: int | tuple[int, int] | None, batch: int = 1) -> torch.Tensor:
    _, transform = build_transforms(data_config(model, img_size), {})
    image = transform(sample_image())
    flipped = transform(sample_image().transpose(Image.Transpose.FLIP_LEFT_RIGHT))
    return torch.stack([image, flipped][:batch] + [image] * max(0, batch - 2))


def _onnx(model: nn.Module, x: torch.Tensor, path: Path, opset: int, dynamic_batch: bool) -> None:
    dynamic_axes = {"images": {0: "batch"}, "logits": {0: "batch"}} if dynamic_batch else None
    with warnings.catch_warnings():  # the input-size check is a Python branch on static shapes: fine to trace
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        try:
            torch.onnx.export(
                model, (x,), str(path), input_names=["images"], output_names=["logits"], opset_version=opset,
                dynamic_axes=dynamic_axes, dynamo=False,
            )
        except torch.onnx.errors.OnnxExporterError as error:  # an operator the opset lacks: torch says which
            raise ValueError(f"--opset {opset}: {str(error).splitlines()[0]}") from error


def _run_onnx(path: Path, x: torch.Tensor) -> np.ndarray:
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {"images": x.numpy()})[0]


def export(
        model_name: str | None,
        out: str,
        fmt: str = "onnx",
        checkpoint: str | None = None,
        opset: int = 17,
        dynamic_batch: bool = False,
        img_size: int | Sequence[int] | None = None,
        model_kwargs: dict[str, Any] | None = None,
) -> ExportReport:
    """Export ``model_name`` (weights from ``checkpoint``, at its height, width and classes) to ``out``; raise if the
    exported logits differ from PyTorch's by more than ``PARITY_TOLERANCE`` times the largest |logit| (at least 1)."""
    if fmt not in ("onnx", "torch-export"):
        raise ValueError(f"--format must be 'onnx' or 'torch-export', got {fmt!r}")
    if fmt == "torch-export" and not out.endswith(".pt2"):
        raise ValueError(f"-o {out}: torch.export programs are saved as .pt2 files")
    if fmt == "onnx" and not ONNX_OPSETS[0] <= opset <= ONNX_OPSETS[1]:
        raise ValueError(f"--opset must be in [{ONNX_OPSETS[0]}, {ONNX_OPSETS[1]}] (the ONNX opsets torch "
                         f"{torch.__version__} exports), got {opset}")
    if Path(out).is_dir():
        raise ValueError(f"-o {out}: a folder; name the file to write, e.g. {Path(out) / 'model.onnx'}")
    trained = load_model(checkpoint, model_name, img_size=img_size, model_kwargs=model_kwargs)
    model, img_size = exportable(trained.model), trained.img_size
    model_name = getattr(model, "pretrained_cfg", {}).get("architecture", model_name)
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    batches = [2, 1, 3] if dynamic_batch else [1]
    x = real_input(model, img_size, batches[0])  # a dynamic batch is traced at 2: size 1 would be specialised
    with torch.no_grad():
        if fmt == "onnx":
            _onnx(model, x, path, opset, dynamic_batch)
            run = lambda inputs: torch.from_numpy(_run_onnx(path, inputs))  # noqa: E731
        else:
            dynamic = {"x": {0: torch.export.Dim("batch", min=1, max=1024)}} if dynamic_batch else None
            program = torch.export.export(model, (x,), dynamic_shapes=dynamic)
            torch.export.save(program, str(path))
            loaded = torch.export.load(str(path)).module()
            run = lambda inputs: loaded(inputs)  # noqa: E731
        diff, scale = 0.0, 0.0
        for batch in batches:
            inputs = real_input(model, img_size, batch)
            reference = model(inputs)
            diff = max(diff, (run(inputs) - reference).abs().max().item())
            scale = max(scale, reference.abs().max().item())
    report = ExportReport(model_name, fmt, str(path), diff, scale, batches)
    tolerance = PARITY_TOLERANCE * max(1.0, scale)
    if not diff <= tolerance:
        raise ValueError(f"exported {model_name} differs from PyTorch by {diff:.3g} (> {tolerance:.3g}: "
                         f"{PARITY_TOLERANCE} × max |logit| {scale:.3g}) on a real image; the file {path} was kept for "
                         f"inspection")
    return report
