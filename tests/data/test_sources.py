"""Data sources: the embedded digits split, image folders (layouts, surprises, pixel modes), and the errors for bad
folders."""

import os
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mlpvision.data import load_splits
from mlpvision.data.folder import BadImageError, read_image


def write_folder(root: Path, classes: dict[str, int], size: int = 12) -> None:
    rng = np.random.default_rng(0)
    for name, count in classes.items():
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(count):
            pixels = rng.integers(0, 255, (size, size, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(root / name / f"{i}.png")


def write_bomb(path: Path) -> None:
    """A 2 kB PNG whose header claims 20000 x 20000 pixels (Pillow refuses above 2 x MAX_IMAGE_PIXELS)."""
    Image.new("L", (16, 16)).save(path)
    data = bytearray(path.read_bytes())
    ihdr = 8 + 8  # signature, then the IHDR chunk's length and type
    data[ihdr:ihdr + 8] = struct.pack(">II", 20000, 20000)
    data[ihdr + 13:ihdr + 17] = struct.pack(">I", zlib.crc32(bytes(data[ihdr - 4:ihdr + 13])))
    path.write_bytes(bytes(data))


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
        write_folder(tmp_path / split, {"cat": 3, "dog": 2})
    splits = load_splits(str(tmp_path), 0.1, seed=0, bad_images="skip")
    assert splits.classes == ["cat", "dog"]
    assert (len(splits.train), len(splits.val), len(splits.test)) == (5, 5, 5)


def test_single_folder_is_split_by_val_split(tmp_path):
    write_folder(tmp_path, {"a": 10, "b": 10})
    splits = load_splits(str(tmp_path), 0.2, seed=0, bad_images="skip")
    assert (len(splits.train), len(splits.val), splits.test) == (16, 4, None)


@pytest.mark.parametrize(("layout", "message"), [
    ({"only": 3}, "has 1 class folder"),
    ({"a": 3, "b": 0}, "class folder .*b has no images"),
])
def test_bad_folders(tmp_path, layout, message):
    write_folder(tmp_path, layout)
    with pytest.raises(ValueError, match=message):
        load_splits(str(tmp_path), 0.2, seed=0, bad_images="skip")


def test_missing_path_and_missing_cifar(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such folder"):
        load_splits(str(tmp_path / "nope"), 0.1, seed=0, bad_images="skip")
    with pytest.raises(FileNotFoundError, match="cifar10 not found under .*cifar-10-batches-py"):
        load_splits(f"cifar10:{tmp_path}", 0.1, seed=0, bad_images="skip")


def test_val_and_train_classes_must_agree(tmp_path):
    write_folder(tmp_path / "train", {"a": 2, "b": 2})
    write_folder(tmp_path / "val", {"a": 2, "c": 2})
    with pytest.raises(ValueError, match="must have the same ones"):
        load_splits(str(tmp_path), 0.1, seed=0, bad_images="skip")


def test_imagenet_layout_needs_no_flag(tmp_path):
    for split, count in (("train", 3), ("val", 2)):
        for wnid in ("n01440764", "n01443537"):
            (tmp_path / split / wnid).mkdir(parents=True)
            for i in range(count):
                Image.new("RGB", (50, 37), (i, 9, 9)).save(tmp_path / split / wnid / f"{wnid}_{i}.JPEG")
    splits = load_splits(str(tmp_path), 0.1, seed=0, bad_images="skip")
    assert splits.classes == ["n01440764", "n01443537"]
    assert (len(splits.train), len(splits.val), splits.test) == (6, 4, None)


@pytest.mark.parametrize(("mode", "pixels", "expected"), [
    ("I;16", np.full((4, 4), 32896, np.uint16), (128, 128, 128)),  # a 16-bit PNG: mid-grey, not white
    ("I", np.full((4, 4), 65535, np.int32), (255, 255, 255)),
    ("F", np.full((4, 4), 0.5, np.float32), (128, 128, 128)),
    ("LA", np.dstack([np.full((4, 4), 77, np.uint8), np.full((4, 4), 255, np.uint8)]), (77, 77, 77)),
    ("CMYK", np.tile(np.array([0, 255, 255, 0], np.uint8), (4, 4, 1)), (255, 0, 0)),
])
def test_every_pixel_mode_becomes_the_right_rgb(tmp_path, mode, pixels, expected):
    image = Image.fromarray(pixels, mode=None if mode in ("I;16", "I", "F") else mode)
    assert image.mode == mode
    path = tmp_path / ("image.tiff" if mode in ("I", "F", "CMYK") else "image.png")
    image.save(path)
    rgb = read_image(path)
    assert rgb.mode == "RGB"
    assert tuple(np.asarray(rgb)[0, 0]) == expected


def test_a_palette_image_keeps_its_colours(tmp_path):
    image = Image.new("P", (4, 4), 1)
    image.putpalette([0, 0, 0, 10, 200, 30] + [0] * 762)
    image.save(tmp_path / "p.png", transparency=0)
    assert tuple(np.asarray(read_image(tmp_path / "p.png"))[0, 0]) == (10, 200, 30)


def test_unreadable_files_name_the_file(tmp_path):
    (tmp_path / "empty.jpg").write_bytes(b"")
    write_bomb(tmp_path / "bomb.png")
    with pytest.raises(BadImageError, match=r"unreadable image .*empty.jpg: cannot identify"):
        read_image(tmp_path / "empty.jpg")
    with pytest.raises(BadImageError, match=r"unreadable image .*bomb.png: .*decompression bomb"):
        read_image(tmp_path / "bomb.png")


def test_a_class_with_one_image_keeps_it_for_training(tmp_path):
    write_folder(tmp_path, {"a": 10, "b": 1})
    splits = load_splits(str(tmp_path), 0.2, seed=0, bad_images="skip")
    assert sorted(splits.train.labels) == [0] * 8 + [1]
    assert splits.warnings == ["class 'b' has 1 image: it is kept for training, so the validation split has none "
                               "of this class"]


def test_symlinked_classes_are_ignored_and_reported(tmp_path):
    write_folder(tmp_path, {"a": 3, "b": 3})
    (tmp_path / "again_a").symlink_to(tmp_path / "a")
    (tmp_path / "root").symlink_to(tmp_path)
    splits = load_splits(str(tmp_path), 0.3, seed=0, bad_images="skip")
    assert splits.classes == ["a", "b"]
    assert len(splits.train) + len(splits.val) == 6
    assert len(splits.warnings) == 2
    assert "again_a: the same folder as class 'a'" in splits.warnings[0]
    assert "root: a symlink to" in splits.warnings[1]


def test_unreadable_sub_folders_are_reported(tmp_path, monkeypatch):
    write_folder(tmp_path, {"a": 4, "b": 4})
    write_folder(tmp_path / "b" / "more", {"hidden": 3})
    locked = tmp_path / "b/more/hidden"
    locked.chmod(0)
    if os.geteuid() == 0:  # root reads a folder whatever its mode: make the system refuse it as it would a user
        listing = os.scandir

        def refuse(path=".", *args):
            if Path(path) == locked:
                raise PermissionError(13, "Permission denied", str(path))
            return listing(path, *args)
        monkeypatch.setattr(os, "scandir", refuse)
    try:
        splits = load_splits(str(tmp_path), 0.25, seed=0, bad_images="skip")
        assert len(splits.train) + len(splits.val) == 8
        assert splits.warnings == [f"left out folder {locked}: Permission denied"]
        with pytest.raises(ValueError, match=f"cannot read folder {locked}: Permission denied .*--bad-images skip"):
            load_splits(str(tmp_path), 0.25, seed=0, bad_images="error")
    finally:
        locked.chmod(0o755)
