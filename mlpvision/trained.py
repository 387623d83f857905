"""A model with trained weights: from a run folder or weights file (our metadata names its architecture), or by name.

What a checkpoint was trained as travels with it: its architecture, keyword arguments, input height and width and
class names (the safetensors metadata), and, for a run folder, the configuration its held-out images were drawn
and transformed with (``config.yaml``: data, hold-out, seed, ``--permute``). Every command that reads a checkpoint
rebuilds the model and its inputs from these, not from defaults.
"""

import dataclasses
import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import timm
import torch
import yaml
from torch.utils.data import Dataset

from .data import load_splits
from .data.datamodule import CheckedLoader, CheckedSamples
from .models import read_checkpoint
from .models._weights import check_architecture, load_checked, read_metadata
from .train.config import TrainConfig, check_model_name
from .train.run import run_transforms

ImgSize = tuple[int, int]


def image_size(value: int | Sequence[int] | str | None, flag: str = "--img-size") -> ImgSize | None:
    """``value`` as (height, width): one side (square), two sides, or metadata's ``"HxW"``; ``None`` stays ``None``."""
    if value is None:
        return None
    sides = [int(side) for side in value.split("x")] if isinstance(value, str) else (
        [value] if isinstance(value, int) else list(value))
    if len(sides) == 1:
        sides *= 2
    if len(sides) != 2 or min(sides) < 1:
        shown = " ".join(str(side) for side in ([value] if isinstance(value, int | str) else value))
        raise ValueError(f"{flag} takes one side or a height and a width, each at least 1, got {shown}")
    return sides[0], sides[1]


def _weights_file(checkpoint: str) -> Path:
    path = Path(checkpoint)
    if path.is_dir():
        path = path / "checkpoints" / "best.safetensors"
        if not path.is_file():
            raise FileNotFoundError(f"--checkpoint {checkpoint}: a folder without checkpoints/best.safetensors "
                                    f"(give a run folder of `mlpvision train` or a .safetensors file)")
    if not path.is_file():
        raise FileNotFoundError(f"--checkpoint {checkpoint}: no such file or run folder")
    if path.suffix != ".safetensors":
        raise ValueError(f"--checkpoint {checkpoint}: expected a run folder or a .safetensors file from mlpvision")
    return path


def run_config(checkpoint: str | None) -> dict[str, Any] | None:
    """The ``config.yaml`` of the run a checkpoint belongs to (a run folder, or a file in its ``checkpoints/``)."""
    if checkpoint is None:
        return None
    path = Path(checkpoint)
    run_dir = path if path.is_dir() else path.parent.parent if path.parent.name == "checkpoints" else None
    if run_dir is None or not (run_dir / "config.yaml").is_file():
        return None
    config_file = run_dir / "config.yaml"
    try:
        config = yaml.safe_load(config_file.read_text())
    except (yaml.YAMLError, UnicodeDecodeError) as error:
        raise ValueError(f"{config_file}: not a readable run configuration ({type(error).__name__})") from error
    if not isinstance(config, dict):
        raise ValueError(f"{config_file}: not a run configuration (expected a mapping of settings)")
    return config


@dataclasses.dataclass
class TrainedModel:
    """A model in eval mode, the (height, width) it runs at and its class names (``None``: the head's are unknown)."""

    model: torch.nn.Module
    img_size: ImgSize | None
    classes: list[str] | None


def _create(name: str, kwargs: dict[str, Any]) -> torch.nn.Module:
    """``timm.create_model``; a model that takes no ``img_size`` (a convolutional baseline) runs at any size."""
    try:
        return timm.create_model(name, **kwargs)
    except TypeError as error:
        if "img_size" not in str(error) or "img_size" not in kwargs:
            raise
        return timm.create_model(name, **{key: value for key, value in kwargs.items() if key != "img_size"})


def _checkpoint_classes(name: str, kwargs: dict[str, Any], state: dict[str, torch.Tensor]) -> int | None:
    """The number of classes the checkpoint's classifier has, in ``name``'s layout (the authors' renamed first)."""
    with torch.device("meta"):
        probe = _create(name, kwargs)
    if getattr(probe, "checkpoint_filter", None) is not None:
        state = probe.checkpoint_filter(state, probe)
    head = (getattr(probe, "pretrained_cfg", None) or {}).get("classifier", "head")
    weight = state.get(f"{head}.weight")
    return weight.shape[0] if weight is not None and weight.ndim == 2 else None


def load_model(
        checkpoint: str | None,
        model_name: str | None,
        num_classes: int | None = None,
        img_size: int | Sequence[int] | None = None,
        model_kwargs: dict[str, Any] | None = None,
) -> TrainedModel:
    """The model, at the checkpoint's input size unless ``img_size`` is given, with the checkpoint's classifier.

    A ``.safetensors`` file written by mlpvision (or a run folder: its ``checkpoints/best.safetensors``) says its
    architecture, keyword arguments, input size and classes; any other checkpoint layout needs ``model_name``.
    The classifier is built with as many classes as the checkpoint's, so its trained head is always the one loaded;
    ``num_classes`` only sizes the head of a model created without weights.
    """
    size = image_size(img_size)
    if checkpoint is not None and not Path(checkpoint).exists():
        raise FileNotFoundError(f"--checkpoint {checkpoint}: no such file or run folder")
    ours = checkpoint is not None and (Path(checkpoint).is_dir() or "architecture" in read_metadata(checkpoint))
    metadata = read_metadata(_weights_file(checkpoint)) if ours else {}
    name = model_name or metadata.get("architecture")
    if not name:
        raise ValueError("give --checkpoint PATH or --model NAME" if checkpoint is None
                         else f"{checkpoint} does not say its architecture; give --model NAME")
    check_model_name(name)
    classes = json.loads(metadata["classes"]) if "classes" in metadata else None
    size = size or image_size(metadata.get("img_size"))
    kwargs: dict[str, Any] = {**json.loads(metadata.get("model_kwargs", "{}")), **(model_kwargs or {})}
    if size:
        kwargs["img_size"] = size
    if checkpoint is None:
        model = _create(name, {**kwargs, **({"num_classes": num_classes} if num_classes else {})})
        return TrainedModel(model.eval(), size, None)
    path = _weights_file(checkpoint) if ours else Path(checkpoint)
    state, _ = read_checkpoint(path)
    head_classes = len(classes) if classes else _checkpoint_classes(name, kwargs, state) or num_classes
    if head_classes:
        kwargs["num_classes"] = head_classes
    model = _create(name, kwargs)
    check_architecture(metadata, model, str(path))
    if hasattr(model, "load_pretrained"):
        model.load_pretrained(str(path))
    else:
        load_checked(model, state, str(path))
    return TrainedModel(model.eval(), size, classes)


class _ModelLabels(Dataset):
    """A dataset's images, each labelled (the model's index of its class, its position in the dataset): the position
    names each image that is scored once the loader has left the unreadable ones out of its batch."""

    def __init__(self, base: Dataset, model_index: list[int]) -> None:
        self.base = base
        self.model_index = model_index

    def __len__(self) -> int:
        return len(self.base)

    def __getitem__(self, index: int) -> tuple[Any, tuple[int, int]]:
        image, label = self.base[index]
        return image, (self.model_index[label], index)


@dataclasses.dataclass
class HeldOutSet:
    """A model ready to evaluate and the data to evaluate it on, transformed by the run's eval transform.

    ``classes`` are the data's class names and ``model_index[i]`` the model's index of ``classes[i]``; ``images``
    names each image (its path, or its index); ``bad_images`` lists the files ``batches`` found unreadable.
    """

    model: torch.nn.Module
    dataset: CheckedSamples
    split: str
    classes: list[str]
    model_index: list[int]
    num_outputs: int
    images: list[str]
    bad_images: list[str] = dataclasses.field(default_factory=list)

    def batches(self, batch_size: int) -> Iterator[tuple[torch.Tensor, torch.Tensor, list[str]]]:
        """(images, labels as the model's class indices, names) of the readable images, in order; an unreadable
        file is left out with a warning and its path added to ``bad_images``."""
        loader = CheckedLoader(self.dataset, batch_size=batch_size, bad_images=self.bad_images, policy="skip")
        for images, keys in loader:
            yield images, keys[:, 0], [self.images[i] for i in keys[:, 1].tolist()]


def _shown(names: Sequence[str], limit: int = 8) -> str:
    return ", ".join(names[:limit]) + (f", … ({len(names)} in all)" if len(names) > limit else "")


def match_classes(data: str, classes: list[str], known: list[str] | None, outputs: int, checkpoint: str | None
                  ) -> list[int]:
    """The model's index of each data class: by name when the checkpoint names its classes, else by position."""
    if known is not None:
        unknown = [name for name in classes if name not in known]
        if unknown:
            raise ValueError(
                f"--data {data} has {len(unknown)} class(es) that {checkpoint} was not trained on: {_shown(unknown)} "
                f"(it knows {len(known)}: {_shown(known)}); evaluate on data with these classes or a subset of them"
            )
        return [known.index(name) for name in classes]
    if len(classes) > outputs:
        raise ValueError(f"--data {data} has {len(classes)} classes but the model has {outputs} outputs")
    return list(range(len(classes)))


def held_out_set(
        data: str | None,
        checkpoint: str | None,
        model_name: str | None,
        img_size: int | Sequence[int] | None = None,
        val_split: float | None = None,
        seed: int | None = None,
) -> HeldOutSet:
    """The test split of ``data`` (its validation split when it has none) and the model to run on it.

    The data, hold-out fraction and seed default to the run's own (its ``config.yaml``), so a run trained on a folder
    without ``val/`` is evaluated on exactly the images it held out; without a run folder, the training defaults.
    The images are transformed as the run's test images were, its fixed ``--permute`` included.
    """
    config = run_config(checkpoint) or {}
    data = data or config.get("data") or TrainConfig.data
    run_seed = config.get("seed", TrainConfig.seed)
    val_split = config.get("val_split", TrainConfig.val_split) if val_split is None else val_split
    seed = run_seed if seed is None else seed
    if not (isinstance(val_split, int | float) and 0 < val_split < 1):
        raise ValueError(f"--val-split must be in (0, 1), got {val_split}")
    splits = load_splits(data, val_split=val_split, seed=int(seed), bad_images="skip")
    images, split = (splits.test, "test") if splits.test is not None else (splits.val, "val")
    trained = load_model(checkpoint, model_name, len(splits.classes), img_size)
    model = trained.model
    outputs = getattr(model, "num_classes", 0) or len(splits.classes)
    model_index = match_classes(data, splits.classes, trained.classes, outputs, checkpoint)
    permute = config.get("permute")
    if permute and img_size is not None:
        trained_at = image_size(read_metadata(_weights_file(checkpoint)).get("img_size"))
        if trained_at is not None and trained.img_size != trained_at:
            raise ValueError(f"--img-size: {checkpoint} was trained with --permute {permute} at "
                             f"{trained_at[0]}x{trained_at[1]}, and its permutation exists only at that size "
                             f"(leave out --img-size)")
    _, _, transform = run_transforms(model, trained.img_size, {}, permute, config.get("permute_patch"), int(run_seed))
    items = getattr(images, "items", None)
    names = [str(item) if isinstance(item, Path) else f"{split}[{i}]"
             for i, item in enumerate(items if items is not None else range(len(images)))]
    dataset = CheckedSamples(_ModelLabels(images, model_index), transform, substitute=False)
    return HeldOutSet(model, dataset, split, splits.classes, model_index, outputs, names)

