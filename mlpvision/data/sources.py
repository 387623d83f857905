"""``--data`` → train/val/test datasets of (PIL image, label): the embedded digits, image folders, CIFAR."""

from dataclasses import dataclass, field
from pathlib import Path

from torch.utils.data import Dataset

from .embedded import digits_splits
from .folder import LabeledImages, drop_unreadable, scan_classes, stratified_holdout, subset


@dataclass
class Splits:
    train: Dataset
    val: Dataset
    test: Dataset | None
    classes: list[str]
    bad_images: list[str] = field(default_factory=list)


def load_splits(data: str, val_split: float, seed: int, bad_images: str) -> Splits:
    """Read ``data`` ('digits', 'cifar10:PATH', 'cifar100:PATH' or an image-folder PATH); nothing is downloaded."""
    if data == "digits":
        train, val, test, classes = digits_splits()
        return Splits(train, val, test, classes)
    for prefix in ("cifar10:", "cifar100:"):
        if data.startswith(prefix):
            return _cifar(prefix[:-1], Path(data[len(prefix):]), val_split, seed)
    return _image_folder(Path(data), val_split, seed, bad_images)


def _image_folder(root: Path, val_split: float, seed: int, policy: str) -> Splits:
    """``root/train/<class>/*`` with optional ``val/`` and ``test/``, or ``root/<class>/*`` split by ``val_split``."""
    if not root.exists():
        raise FileNotFoundError(f"--data {root}: no such folder (expected 'digits', 'cifar10:PATH' or image folders)")
    has_splits = (root / "train").is_dir()
    paths, labels, classes = scan_classes(root / "train" if has_splits else root)
    paths, labels, bad = drop_unreadable(paths, labels, policy)
    if has_splits and (root / "val").is_dir():
        val_paths, val_labels, _ = scan_classes(root / "val", classes)
        val_paths, val_labels, val_bad = drop_unreadable(val_paths, val_labels, policy)
        train, val = LabeledImages(paths, labels), LabeledImages(val_paths, val_labels)
        bad += val_bad
    else:
        train_idx, val_idx = stratified_holdout(labels, val_split, seed)
        train, val = subset(paths, labels, train_idx), subset(paths, labels, val_idx)
    test = None
    if has_splits and (root / "test").is_dir():
        test_paths, test_labels, _ = scan_classes(root / "test", classes)
        test_paths, test_labels, test_bad = drop_unreadable(test_paths, test_labels, policy)
        test, bad = LabeledImages(test_paths, test_labels), bad + test_bad
    return Splits(train, val, test, classes, bad)


def _cifar(name: str, root: Path, val_split: float, seed: int) -> Splits:
    from torchvision.datasets import CIFAR10, CIFAR100

    dataset_cls, folder = (CIFAR10, "cifar-10-batches-py") if name == "cifar10" else (CIFAR100, "cifar-100-python")
    try:
        train_full = dataset_cls(str(root), train=True, download=False)
        test = dataset_cls(str(root), train=False, download=False)
    except RuntimeError as error:
        raise FileNotFoundError(
            f"{name} not found under {root}: put torchvision's '{folder}/' folder there (extracted from the "
            f"official python archive); nothing is downloaded at run time"
        ) from error
    images = [train_full[i][0] for i in range(len(train_full))]
    labels = list(train_full.targets)
    train_idx, val_idx = stratified_holdout(labels, val_split, seed)
    return Splits(subset(images, labels, train_idx), subset(images, labels, val_idx), test, list(train_full.classes))
