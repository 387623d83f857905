"""Image folders (``class/xxx.jpg``) with corrupt files found up front and reported by path."""

import logging
import random
from collections.abc import Sequence
from pathlib import Path

from PIL import Image, UnidentifiedImageError
from torch.utils.data import Dataset
from torchvision.datasets.folder import IMG_EXTENSIONS

_logger = logging.getLogger(__name__)


class LabeledImages(Dataset):
    """(image, label) pairs from in-memory PIL images or image files (opened lazily, converted to RGB)."""

    def __init__(self, items: Sequence[Image.Image | Path], labels: Sequence[int]) -> None:
        self.items = list(items)
        self.labels = list(labels)

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> tuple[Image.Image, int]:
        item = self.items[index]
        if isinstance(item, Path):
            with Image.open(item) as image:
                item = image.convert("RGB")
        return item, self.labels[index]


def _is_readable(path: Path) -> bool:
    try:
        with Image.open(path) as image:
            image.verify()
        with Image.open(path) as image:  # verify() leaves the file unusable; decode once for truncated files
            image.load()
    except (OSError, UnidentifiedImageError, ValueError, SyntaxError):
        return False
    return True


def scan_classes(root: Path, classes: list[str] | None = None) -> tuple[list[Path], list[int], list[str]]:
    """Image paths and labels under ``root/<class>/``; classes are the sorted folder names (or ``classes``)."""
    if not root.is_dir():
        raise FileNotFoundError(f"data folder not found: {root}")
    found = sorted(entry.name for entry in root.iterdir() if entry.is_dir())
    if classes is None:
        classes = found
        if len(classes) < 2:
            raise ValueError(
                f"{root} has {len(classes)} class folder(s); classification needs at least 2 (one folder per class)"
            )
    elif found != classes:
        raise ValueError(f"{root} has classes {found}, but train/ has {classes}: the splits must have the same ones")
    paths, labels = [], []
    for label, name in enumerate(classes):
        files = sorted(p for p in (root / name).rglob("*") if p.suffix.lower() in IMG_EXTENSIONS and p.is_file())
        if not files:
            raise ValueError(f"class folder {root / name} has no images ({', '.join(IMG_EXTENSIONS)})")
        paths += files
        labels += [label] * len(files)
    return paths, labels, classes


def drop_unreadable(paths: list[Path], labels: list[int], policy: str) -> tuple[list[Path], list[int], list[str]]:
    """Check every file decodes; ``policy='skip'`` drops bad ones (returned by path), ``'error'`` raises."""
    bad = [path for path in paths if not _is_readable(path)]
    if bad and policy == "error":
        shown = ", ".join(str(p) for p in bad[:5]) + (f" and {len(bad) - 5} more" if len(bad) > 5 else "")
        raise ValueError(f"{len(bad)} unreadable image file(s): {shown} (use --bad-images skip to leave them out)")
    for path in bad:
        _logger.warning("skipping unreadable image %s", path)
    bad_set = set(bad)
    kept = [(p, label) for p, label in zip(paths, labels, strict=True) if p not in bad_set]
    return [p for p, _ in kept], [label for _, label in kept], [str(p) for p in bad]


def stratified_holdout(labels: list[int], fraction: float, seed: int) -> tuple[list[int], list[int]]:
    """Indices of a stratified random hold-out of ``fraction`` of each class (at least one per class), and the rest."""
    if not 0 < fraction < 1:
        raise ValueError(f"--val-split must be in (0, 1) when the data has no val/ folder, got {fraction}")
    rng = random.Random(seed)
    kept, held = [], []
    for label in sorted(set(labels)):
        members = [i for i, y in enumerate(labels) if y == label]
        rng.shuffle(members)
        cut = max(1, round(fraction * len(members)))
        held += members[:cut]
        kept += members[cut:]
    if not kept:
        raise ValueError("--val-split leaves no training images")
    return sorted(kept), sorted(held)


def subset(items: Sequence[Image.Image | Path], labels: Sequence[int], indices: list[int]) -> LabeledImages:
    return LabeledImages([items[i] for i in indices], [labels[i] for i in indices])
