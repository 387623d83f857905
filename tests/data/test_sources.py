"""Data sources: the embedded digits split, image folders with corrupt files, and the errors for bad folders."""

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mlpvision.data import load_splits


def _write_folder(root: Path, classes: dict[str, int], size: int = 12) -> None:
    rng = np.random.default_rng(0)
    for name, count in classes.items():
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(count):
            pixels = rng.integers(0, 255, (size, size, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(root / name / f"{i}.png")


def test_digits_split_is_stratified_and_fixed():
    first = load_splits("digits", 0.1, seed=1, bad_images="skip")
    second = load_splits("digits", 0.1, seed=2, bad_images="skip")
    assert (len(first.train), len(first.val), len(first.test)) == (1257, 180, 360)
    assert first.test.labels == second.test.labels  # the split does not depend on the run's seed
    counts = np.bincount(first.test.labels)
    assert counts.min() >= 35
    assert counts.max() <= 37
    image, label = first.train[0]
    assert image.size == (8, 8)
    assert image.mode == "RGB"
    assert 0 <= label < 10


def test_folder_with_train_val_test(tmp_path):
    for split in ("train", "val", "test"):
        _write_folder(tmp_path / split, {"cat": 3, "dog": 2})
    splits = load_splits(str(tmp_path), 0.1, seed=0, bad_images="skip")
    assert splits.classes == ["cat", "dog"]
    assert (len(splits.train), len(splits.val), len(splits.test)) == (5, 5, 5)


def test_single_folder_is_split_by_val_split(tmp_path):
    _write_folder(tmp_path, {"a": 10, "b": 10})
    splits = load_splits(str(tmp_path), 0.2, seed=0, bad_images="skip")
    assert (len(splits.train), len(splits.val), splits.test) == (16, 4, None)


def test_corrupt_images_are_skipped_and_reported(tmp_path):
    _write_folder(tmp_path / "train", {"a": 4, "b": 4})
    (tmp_path / "train/a/garbage.jpg").write_bytes(b"not an image at all")
    truncated = (tmp_path / "train/b/0.png").read_bytes()
    (tmp_path / "train/b/truncated.png").write_bytes(truncated[: len(truncated) // 2])
    splits = load_splits(str(tmp_path), 0.25, seed=0, bad_images="skip")
    assert sorted(Path(p).name for p in splits.bad_images) == ["garbage.jpg", "truncated.png"]
    assert len(splits.train) + len(splits.val) == 8
    with pytest.raises(ValueError, match=r"2 unreadable image file\(s\): .*garbage.jpg"):
        load_splits(str(tmp_path), 0.25, seed=0, bad_images="error")


@pytest.mark.parametrize(("layout", "message"), [
    ({"only": 3}, "has 1 class folder"),
    ({"a": 3, "b": 0}, "class folder .*b has no images"),
])
def test_bad_folders(tmp_path, layout, message):
    _write_folder(tmp_path, layout)
    with pytest.raises(ValueError, match=message):
        load_splits(str(tmp_path), 0.2, seed=0, bad_images="skip")


def test_missing_path_and_missing_cifar(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such folder"):
        load_splits(str(tmp_path / "nope"), 0.1, seed=0, bad_images="skip")
    with pytest.raises(FileNotFoundError, match="cifar10 not found under .*cifar-10-batches-py"):
        load_splits(f"cifar10:{tmp_path}", 0.1, seed=0, bad_images="skip")


def test_val_and_train_classes_must_agree(tmp_path):
    _write_folder(tmp_path / "train", {"a": 2, "b": 2})
    _write_folder(tmp_path / "val", {"a": 2, "c": 2})
    with pytest.raises(ValueError, match="must have the same ones"):
        load_splits(str(tmp_path), 0.1, seed=0, bad_images="skip")
