"""``--data`` → train/val/test datasets of (PIL image, label): the embedded digits, image folders, CIFAR."""

import logging
from dataclasses import dataclass, field
from pathlib import Path

from torch.utils.data import Dataset

from .embedded import digits_splits
from .folder import LabeledImages, Scan, scan_classes, stratified_holdout, subset
from .hfds import HFImages, is_saved_dataset, saved_splits
from .shards import shard_files, shard_splits

_logger = logging.getLogger(__name__)


@dataclass
class Splits:
    """The datasets of a run. ``bad_images`` lists the paths of files found unreadable; the loaders add to it
    as they meet them, so it is complete once training and testing have read everything. ``warnings`` are the
    surprises in the data's layout, one line each."""

    train: Dataset
    val: Dataset
    test: Dataset | None
    classes: list[str]
    bad_images: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    bad_image_policy: str = "skip"


def load_splits(data: str, val_split: float, seed: int, bad_images: str) -> Splits:
    """Read ``data``: 'digits', 'cifar10:PATH', 'cifar100:PATH', or a PATH holding image folders, a Hugging Face
    dataset saved with ``save_to_disk``, or webdataset tar shards (each recognised by its layout); nothing is
    downloaded, and no image is opened here."""
    if data == "digits":
        train, val, test, classes = digits_splits()
        return Splits(train, val, test, classes)
    for prefix in ("cifar10:", "cifar100:"):
        if data.startswith(prefix):
            return _cifar(prefix[:-1], Path(data[len(prefix):]), val_split, seed)
    root = Path(data)
    if is_saved_dataset(root):
        splits = _saved_dataset(root, val_split, seed, bad_images)
    elif shard_files(root):
        splits = _shards(root, val_split, seed, bad_images)
    else:
        splits = _image_folder(root, val_split, seed, bad_images)
    for line in splits.warnings:
        _logger.warning("%s", line)
    return splits


def _checked(scan: Scan, policy: str, warnings: list[str]) -> Scan:
    """Folders that cannot be listed stop the run under ``--bad-images error``; otherwise they are reported."""
    if scan.unreadable and policy == "error":
        raise ValueError(f"cannot read folder {scan.unreadable[0]} (use --bad-images skip to leave it out)")
    warnings += scan.warnings + [f"left out folder {entry}" for entry in scan.unreadable]
    return scan


def _report_classes(labels: list[int], held: list[int], classes: list[str], warnings: list[str]) -> None:
    counts = [0] * len(classes)
    for label in labels:
        counts[label] += 1
    for label, count in enumerate(counts):
        if count == 0:
            warnings.append(f"class {classes[label]!r} has no training images")
        elif count == 1 and held is not None:
            warnings.append(f"class {classes[label]!r} has 1 image: it is kept for training, so the validation "
                            "split has none of this class")


def _image_folder(root: Path, val_split: float, seed: int, policy: str) -> Splits:
    """``root/train/<class>/*`` with optional ``val/`` and ``test/`` (ImageNet's layout), or ``root/<class>/*`` split
    by ``val_split``. Only the folders are listed here; each file is checked when a loader reads it."""
    if not root.exists():
        raise FileNotFoundError(f"--data {root}: no such folder (expected 'digits', 'cifar10:PATH' or image folders)")
    warnings: list[str] = []
    has_splits = (root / "train").is_dir()
    scan = _checked(scan_classes(root / "train" if has_splits else root), policy, warnings)
    classes = scan.classes
    test = None
    if has_splits and (root / "val").is_dir():
        val_scan = _checked(scan_classes(root / "val", classes), policy, warnings)
        train, val = LabeledImages(scan.paths, scan.labels), LabeledImages(val_scan.paths, val_scan.labels)
        _report_classes(scan.labels, None, classes, warnings)
    else:
        train_idx, val_idx = stratified_holdout(scan.labels, val_split, seed)
        train, val = subset(scan.paths, scan.labels, train_idx), subset(scan.paths, scan.labels, val_idx)
        _report_classes(scan.labels, val_idx, classes, warnings)
    if has_splits and (root / "test").is_dir():
        test_scan = _checked(scan_classes(root / "test", classes), policy, warnings)
        test = LabeledImages(test_scan.paths, test_scan.labels)
    return Splits(train, val, test, classes, warnings=warnings, bad_image_policy=policy)


def _saved_dataset(root: Path, val_split: float, seed: int, policy: str) -> Splits:
    """A Hugging Face dataset saved on disk: its train split, its validation split (else ``val_split`` of train held
    out, stratified), its test split when it has one."""
    found, classes = saved_splits(root)
    full = train = found["train"]
    warnings: list[str] = []
    if "val" in found:
        val = found["val"]
        _report_classes(train.labels, None, classes, warnings)
    else:
        train_idx, val_idx = stratified_holdout(train.labels, val_split, seed)
        val = HFImages(train.table, train.name, train.image_key, train.label_key, val_idx)
        train = HFImages(train.table, train.name, train.image_key, train.label_key, train_idx)
        _report_classes(full.labels, val_idx, classes, warnings)
    return Splits(train, val, found.get("test"), classes, warnings=warnings, bad_image_policy=policy)


def _shards(root: Path, val_split: float, seed: int, policy: str) -> Splits:
    streams, classes, labels = shard_splits(root, shard_files(root), val_split)
    warnings: list[str] = []
    _report_classes(labels, None, classes, warnings)
    return Splits(streams["train"], streams["val"], streams.get("test"), classes, warnings=warnings,
                  bad_image_policy=policy)


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
