"""Convert a checkpoint (timm's, the authors' .pth/.npz, ours) to mlpvision safetensors, optionally at a new size."""

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import timm
import torch

from .export import real_input
from .models import read_checkpoint, save_weights
from .models._weights import read_metadata, weights_key_of
from .train.config import check_model_name
from .trained import image_size


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_class_map(path: str) -> list[str]:
    """Class names, one a line in the classifier's order (timm's ``--class-map`` text file)."""
    file = Path(path)
    if not file.is_file():
        raise FileNotFoundError(f"--class-map {path}: no such file (expected one class name a line)")
    names = [line.strip() for line in file.read_text().splitlines() if line.strip()]
    if len(set(names)) != len(names):
        raise ValueError(f"--class-map {path}: the class names are not all different")
    return names


def convert(
        src: str,
        model_name: str | None,
        out: str,
        img_size: int | Sequence[int] | None = None,
        model_kwargs: dict[str, Any] | None = None,
        classes: list[str] | None = None,
) -> dict[str, Any]:
    """Load ``src`` into ``model_name`` (resampling token-mixing weights to ``img_size``), check it, save it.

    The safetensors metadata records the architecture, its keyword arguments, the input height and width, the number
    of classes and their names (``classes``, else the source's own when it is ours), and the source file's name and
    SHA-256; loading it into another architecture is refused.
    """
    size = image_size(img_size)
    if not out.endswith(".safetensors"):
        raise ValueError(f"-o {out}: convert writes safetensors; name the file NAME.safetensors")
    if Path(out).is_dir():
        raise ValueError(f"-o {out}: a folder; name the file to write")
    source = Path(src)
    if source.is_dir():
        raise ValueError(f"{src}: a folder; give the checkpoint file (.pth, .npz or .safetensors)")
    if not source.is_file():
        raise FileNotFoundError(f"checkpoint not found: {src}")
    source_metadata = read_metadata(source)
    model_name = model_name or source_metadata.get("architecture")
    if not model_name:
        raise ValueError(f"{src} does not say its architecture; give --model NAME")
    check_model_name(model_name)
    # our own checkpoints keep their keyword arguments (the flags override them) and class names
    kwargs: dict[str, Any] = {**json.loads(source_metadata.get("model_kwargs", "{}")), **(model_kwargs or {})}
    recorded_kwargs = dict(kwargs)
    size = size or image_size(source_metadata.get("img_size"))
    if size:
        kwargs["img_size"] = size
    with torch.device("meta"):
        probe = timm.create_model(model_name, **kwargs)
    if not hasattr(probe, "load_pretrained"):
        raise ValueError(f"{model_name} is not an mlpvision model; convert reads checkpoints into mlpv_* models")
    state, _ = read_checkpoint(source, weights_key_of(probe))
    converted = probe.checkpoint_filter(state, probe) if probe.checkpoint_filter else state
    if "head.weight" in converted:
        kwargs["num_classes"] = converted["head.weight"].shape[0]
    model = timm.create_model(model_name, **kwargs).eval()
    model.load_pretrained(str(source))
    classes = classes or (json.loads(source_metadata["classes"]) if "classes" in source_metadata else None)
    if classes is not None and len(classes) != model.num_classes:
        raise ValueError(f"{len(classes)} class names for the {model.num_classes} classes of the checkpoint's "
                         f"classifier; give one name per class, in the classifier's order")
    with torch.no_grad():
        logits = model(real_input(model, None))
    if not torch.isfinite(logits).all():
        raise ValueError(f"{model_name} with the weights of {source} gives non-finite logits")
    metadata = {
        "architecture": model_name, "model_kwargs": json.dumps(recorded_kwargs),
        "img_size": "x".join(str(side) for side in model.img_size), "num_classes": str(model.num_classes),
        **({"classes": json.dumps(classes)} if classes is not None else {}),
        "source_file": source.name, "source_sha256": _sha256(source),
    }
    save_weights(model, out, metadata)
    return {**metadata, "out": out, "max_abs_logit": float(logits.abs().max())}
