"""Hugging Face datasets saved on disk: splits and class names from the dataset, images decoded when read."""

import io

import datasets
import numpy as np
import torch
from PIL import Image

from mlpvision.data import ImageDataModule, load_splits
from mlpvision.data.hfds import HFImages


def _png(value: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (6, 6), (value, value, 0)).save(buffer, "PNG")
    return buffer.getvalue()


def _save(path, splits: dict[str, int], bad_row: int | None = None) -> None:
    features = datasets.Features({"image": datasets.Image(), "label": datasets.ClassLabel(names=["ant", "bee"])})
    tables = {}
    for split, count in splits.items():
        images = [{"bytes": b"broken" if i == bad_row else _png(i), "path": f"{split}_{i}.png"} for i in range(count)]
        tables[split] = datasets.Dataset.from_dict({"image": images, "label": [i % 2 for i in range(count)]},
                                                   features=features)
    datasets.DatasetDict(tables).save_to_disk(str(path))


def test_a_saved_dataset_dict_gives_its_splits_and_names(tmp_path):
    _save(tmp_path / "ds", {"train": 12, "validation": 4, "test": 6}, bad_row=5)
    splits = load_splits(str(tmp_path / "ds"), 0.1, seed=0, bad_images="skip")
    assert isinstance(splits.train, HFImages)
    assert splits.classes == ["ant", "bee"]
    assert (len(splits.train), len(splits.val), len(splits.test)) == (12, 4, 6)
    image, label = splits.test[3]
    assert (image.mode, image.size, label) == ("RGB", (6, 6), 1)
    to_tensor = lambda image: torch.from_numpy(np.array(image)).permute(2, 0, 1)  # noqa: E731
    module = ImageDataModule(splits, to_tensor, to_tensor, batch_size=1, workers=2, seed=0)
    assert len(list(module.train_dataloader())) == 12
    assert len(splits.bad_images) == 1
    assert splits.bad_images[0].endswith("[train][5] (train_5.png)")


def test_a_saved_dataset_without_validation_is_held_out(tmp_path):
    _save(tmp_path / "ds", {"train": 20})
    splits = load_splits(str(tmp_path / "ds"), 0.2, seed=0, bad_images="skip")
    assert (len(splits.train), len(splits.val), splits.test) == (16, 4, None)
    assert sorted(splits.val.labels) == [0, 0, 1, 1]
