"""Convert a checkpoint (timm's, the authors' .pth/.npz, ours) to mlpvision safetensors, optionally at a new size."""

import hashlib
import json
from pathlib import Path
from typing import Any

import timm
import torch

from .export import real_input
from .models import read_checkpoint, save_weights
from .models._weights import weights_key_of
from .train.config import check_model_name


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def convert(
        src: str,
        model_name: str,
        out: str,
        img_size: tuple[int, int] | None = None,
        model_kwargs: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Load ``src`` into ``model_name`` (resampling token-mixing weights to ``img_size``), check it, save it.

    The safetensors metadata records the architecture, its keyword arguments, the input size, the number of classes
    and the source file's name and SHA-256; loading it into another architecture is refused.
    """
    check_model_name(model_name)
    source = Path(src)
    kwargs: dict[str, Any] = dict(model_kwargs or {})
    if img_size:
        kwargs["img_size"] = tuple(img_size)
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
    with torch.no_grad():
        logits = model(real_input(model, None))
    if not torch.isfinite(logits).all():
        raise ValueError(f"{model_name} with the weights of {source} gives non-finite logits")
    metadata = {
        "architecture": model_name, "model_kwargs": json.dumps(model_kwargs or {}),
        "img_size": "x".join(str(side) for side in model.img_size), "num_classes": str(model.num_classes),
        "source_file": source.name, "source_sha256": _sha256(source),
    }
    save_weights(model, out, metadata)
    return {**metadata, "out": out, "max_abs_logit": float(logits.abs().max())}
