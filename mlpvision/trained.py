"""A model with trained weights: from a run folder or weights file (our metadata names its architecture), or by name."""

import dataclasses
import json
from pathlib import Path
from typing import Any

import timm
import torch

from .data import build_transforms, data_config, load_splits
from .data.datamodule import TransformedDataset
from .models import read_checkpoint
from .models._weights import check_architecture, load_checked, read_metadata
from .train.config import check_model_name


def _weights_file(checkpoint: str) -> Path:
    path = Path(checkpoint)
    if path.is_dir():
        path = path / "checkpoints" / "best.safetensors"
    if not path.is_file():
        raise FileNotFoundError(f"--checkpoint {checkpoint}: no such file or run folder")
    if path.suffix != ".safetensors":
        raise ValueError(f"--checkpoint {checkpoint}: expected a run folder or a .safetensors file from mlpvision")
    return path


def load_model(
        checkpoint: str | None,
        model_name: str | None,
        num_classes: int | None = None,
        img_size: int | None = None,
        model_kwargs: dict[str, Any] | None = None,
) -> tuple[torch.nn.Module, int | None]:
    """The model and the input side it runs at (the checkpoint's unless ``img_size`` is given).

    A ``.safetensors`` file written by mlpvision (or a run folder: its ``checkpoints/best.safetensors``) says its
    architecture, keyword arguments, input size and classes; any other checkpoint layout needs ``model_name``.
    """
    if checkpoint is None or not _is_ours(checkpoint):
        if model_name is None:
            raise ValueError("give --checkpoint PATH or --model NAME")
        check_model_name(model_name)
        kwargs: dict[str, Any] = dict(model_kwargs or {})
        if img_size:
            kwargs["img_size"] = img_size
        if num_classes:
            kwargs["num_classes"] = num_classes
        model = timm.create_model(model_name, **kwargs)
        if checkpoint is not None:
            _load(model, checkpoint)
        return model, img_size
    path = _weights_file(checkpoint)
    metadata = read_metadata(path)
    name = model_name or metadata.get("architecture")
    if not name:
        raise ValueError(f"{path} does not say its architecture; give --model NAME")
    check_model_name(name)
    classes = json.loads(metadata.get("classes", "[]"))
    trained_side = int(metadata["img_size"].split("x")[0]) if "img_size" in metadata else None
    side = img_size or trained_side
    kwargs: dict[str, Any] = {**json.loads(metadata.get("model_kwargs", "{}")), **(model_kwargs or {})}
    if side:
        kwargs["img_size"] = side
    model = timm.create_model(name, num_classes=len(classes) or num_classes or 1000, **kwargs)
    check_architecture(metadata, model, str(path))
    _load(model, str(path))
    return model, side


def _is_ours(checkpoint: str) -> bool:
    path = Path(checkpoint)
    return path.is_dir() or "architecture" in read_metadata(path)


def _load(model: torch.nn.Module, path: str) -> None:
    if hasattr(model, "load_pretrained"):
        model.load_pretrained(path)
    else:
        load_checked(model, read_checkpoint(path)[0], path)




@dataclasses.dataclass
class HeldOutSet:
    """A model ready to evaluate and the data to evaluate it on, transformed by the model's eval transform."""

    model: torch.nn.Module
    dataset: TransformedDataset
    split: str
    classes: list[str]


def held_out_set(data: str, checkpoint: str | None, model_name: str | None, img_size: int | None = None
                 ) -> HeldOutSet:
    """The test split of ``data`` (its validation split when it has none) and the model to run on it."""
    splits = load_splits(data, val_split=0.1, seed=42, bad_images="skip")
    images, split = (splits.test, "test") if splits.test is not None else (splits.val, "val")
    model, side = load_model(checkpoint, model_name, len(splits.classes), img_size)
    _, transform = build_transforms(data_config(model, side), {})
    return HeldOutSet(model.eval(), TransformedDataset(images, transform), split, splits.classes)
