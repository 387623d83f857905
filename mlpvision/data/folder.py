"""Image folders (``class/xxx.jpg``), read lazily: a file is checked when it is read, never decoded up front.

Listing the folder is the only work before the first step (``os.scandir``/``os.walk``: no file is opened), so a
folder of 1.28M files starts as fast as one of 100. Surprises in the layout are reported, each as one line:
class folders that are symlinks to the root or to another class (ignored), sub-folders that cannot be read, classes
left without a training image.
"""

import logging
import os
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image
from torch.utils.data import Dataset
from torchvision.datasets.folder import IMG_EXTENSIONS

_logger = logging.getLogger(__name__)

# what Pillow raises for a file that is not an image, a truncated one, a bad header or a decompression bomb
# (Image.DecompressionBombError: more than 2x Image.MAX_IMAGE_PIXELS pixels, refused before decoding)
DECODE_ERRORS = (OSError, ValueError, SyntaxError, Image.DecompressionBombError, EOFError)


class BadImageError(ValueError):
    """An image file that cannot be read; the message names the file and what is wrong with it."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"unreadable image {path}: {reason}")
        self.path = path
        self.reason = reason

    def __reduce__(self) -> tuple:  # rebuilt from its fields when it crosses a worker process boundary
        return BadImageError, (self.path, self.reason)


def to_rgb(image: Image.Image) -> Image.Image:
    """RGB from any Pillow mode. Pillow's own ``convert('RGB')`` clips 16- and 32-bit integer and float pixels to
    255 (a 16-bit PNG becomes white); those are scaled to 8 bits here: ``I;16*`` and ``I`` by their 16-bit range,
    ``F`` by [0, 1] when its values lie there, else clipped to [0, 255]. Palette, alpha and CMYK modes go through
    Pillow's conversion (palette colours, alpha dropped, CMYK's naive inversion)."""
    if image.mode == "RGB":
        return image
    if image.mode.startswith("I") or image.mode == "F":
        pixels = np.asarray(image, dtype=np.float64)
        if image.mode.startswith("I"):
            pixels = pixels.clip(0, 65535) / 257.0
        elif pixels.size and pixels.min() >= 0.0 and pixels.max() <= 1.0:
            pixels = pixels * 255.0
        gray = Image.fromarray(np.round(pixels.clip(0, 255)).astype(np.uint8), mode="L")
        return gray.convert("RGB")
    if image.mode in ("P", "PA") and "transparency" in image.info:
        image = image.convert("RGBA")  # Pillow warns converting a transparent palette straight to RGB
    return image.convert("RGB")


def read_image(source: Path | BinaryIO, name: str | None = None) -> Image.Image:
    """Decode a file (or a stream of its bytes, called ``name``) fully into an RGB image; ``BadImageError`` naming
    it if it cannot be read."""
    try:
        with Image.open(source) as image:
            image.load()
            return to_rgb(image)
    except DECODE_ERRORS as error:
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise BadImageError(name or str(source), reason) from None


class LabeledImages(Dataset):
    """(image, label) pairs from in-memory PIL images or image files (read on access, converted to RGB); a file
    that cannot be read raises ``BadImageError``."""

    def __init__(self, items: Sequence[Image.Image | Path], labels: Sequence[int]) -> None:
        self.items = list(items)
        self.labels = list(labels)

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> tuple[Image.Image, int]:
        item = self.items[index]
        if isinstance(item, Path):
            item = read_image(item)
        return item, self.labels[index]


@dataclass
class Scan:
    """A listed split: image paths, labels, class names, and the layout surprises met (one line each)."""

    paths: list[Path]
    labels: list[int]
    classes: list[str]
    warnings: list[str] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)


def _class_folders(root: Path, warnings: list[str]) -> dict[str, Path]:
    """``root``'s sub-folders by name, leaving out (and reporting) symlinks that lead back to the root or an
    ancestor of it (a loop) or to a folder that is already a class (a duplicate class)."""
    real_root = root.resolve()
    folders: dict[str, Path] = {}
    seen: dict[Path, str] = {}
    entries = sorted((entry for entry in os.scandir(root) if entry.is_dir()), key=lambda entry: entry.name)
    for entry in sorted(entries, key=lambda entry: entry.is_symlink()):  # real folders claim their target first
        real = Path(entry.path).resolve()
        if real == real_root or real in real_root.parents:
            warnings.append(f"ignored {entry.path}: a symlink to {real}, which contains it (not a class)")
        elif real in seen:
            warnings.append(f"ignored {entry.path}: the same folder as class {seen[real]!r} (a symlink), not a class")
        else:
            seen[real] = entry.name
            folders[entry.name] = Path(entry.path)
    return dict(sorted(folders.items()))


def _images_under(folder: Path, unreadable: list[str]) -> list[Path]:
    """Image files under ``folder`` (any depth, symlinked sub-folders not followed), sorted; folders that cannot be
    listed are added to ``unreadable`` with the reason."""
    def report(error: OSError) -> None:
        unreadable.append(f"{error.filename}: {error.strerror or error}")

    files = []
    for directory, _, names in os.walk(folder, onerror=report):
        files += [Path(directory, name) for name in names if os.path.splitext(name)[1].lower() in IMG_EXTENSIONS]
    return sorted(files)


def scan_classes(root: Path, classes: list[str] | None = None) -> Scan:
    """Image paths and labels under ``root/<class>/``; classes are the sorted folder names (or ``classes``)."""
    if not root.is_dir():
        raise FileNotFoundError(f"data folder not found: {root}")
    warnings: list[str] = []
    unreadable: list[str] = []
    folders = _class_folders(root, warnings)
    found = list(folders)
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
        reported = len(unreadable)
        files = _images_under(folders[name], unreadable)
        if not files and len(unreadable) > reported:
            continue  # the class folder (or every sub-folder with its images) could not be listed: reported
        if not files:
            raise ValueError(f"class folder {folders[name]} has no images ({', '.join(IMG_EXTENSIONS)})")
        paths += files
        labels += [label] * len(files)
    return Scan(paths, labels, classes, warnings, unreadable)


def stratified_holdout(labels: list[int], fraction: float, seed: int) -> tuple[list[int], list[int]]:
    """Indices of a stratified random hold-out of ``fraction`` of each class (at least one per class, but never a
    class's last image: a class with one image keeps it for training), and the rest."""
    if not 0 < fraction < 1:
        raise ValueError(f"--val-split must be in (0, 1) when the data has no val/ folder, got {fraction}")
    rng = random.Random(seed)
    kept, held = [], []
    for label in sorted(set(labels)):
        members = [i for i, y in enumerate(labels) if y == label]
        rng.shuffle(members)
        cut = min(max(1, round(fraction * len(members))), len(members) - 1)
        held += members[:cut]
        kept += members[cut:]
    return sorted(kept), sorted(held)


def subset(items: Sequence[Image.Image | Path], labels: Sequence[int], indices: list[int]) -> LabeledImages:
    return LabeledImages([items[i] for i in indices], [labels[i] for i in indices])
