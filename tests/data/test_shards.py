"""Webdataset tar shards: written by webdataset's own TarWriter, streamed per process, bad samples reported."""

import io
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch
import webdataset as wds
from PIL import Image

from mlpvision.data import ImageDataModule, load_splits
from mlpvision.data.shards import ShardStream


def _jpeg(value: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (10, 8), (value, 0, 0)).save(buffer, "JPEG")
    return buffer.getvalue()


def write_shards(root: Path, split: str, shards: int, per_shard: int, bad_key: str | None = None) -> None:
    root.mkdir(parents=True, exist_ok=True)
    for shard in range(shards):
        with wds.TarWriter(str(root / f"toy-{split}-{shard:06d}.tar")) as sink:
            for i in range(per_shard):
                key = f"{split}{shard:02d}{i:04d}"
                image = b"garbage" if key == bad_key else _jpeg(10 * shard + i)
                sink.write({"__key__": key, "jpg": image, "cls": (shard + i) % 3})


def _to_tensor(image: Image.Image) -> torch.Tensor:
    return torch.from_numpy(np.array(image)).permute(2, 0, 1)


def test_shards_are_found_counted_and_streamed(tmp_path):
    write_shards(tmp_path, "train", shards=4, per_shard=6, bad_key="train010003")
    write_shards(tmp_path, "val", shards=1, per_shard=5)
    (tmp_path / "classes.txt").write_text("cat\ndog\nfox\n")
    splits = load_splits(str(tmp_path), 0.1, seed=0, bad_images="skip")
    assert isinstance(splits.train, ShardStream)
    assert (len(splits.train), len(splits.val), splits.test) == (24, 5, None)
    assert splits.classes == ["cat", "dog", "fox"]
    module = ImageDataModule(splits, _to_tensor, _to_tensor, batch_size=4, workers=2, seed=0)
    batches = list(module.train_dataloader())
    assert len(batches) == 6
    assert all(images.shape == (4, 3, 8, 10) for images, _ in batches)  # whole batches: the next sample stands in
    assert [Path(p).name for p in splits.bad_images] == ["toy-train-000001.tar:train010003"]
    assert sum(len(labels) for _, labels in module.val_dataloader()) == 5


def test_each_process_reads_its_own_shards(tmp_path):
    write_shards(tmp_path, "train", shards=4, per_shard=6)
    write_shards(tmp_path, "val", shards=1, per_shard=2)
    seen = []
    for rank in range(2):
        splits = load_splits(str(tmp_path), 0.1, seed=0, bad_images="skip")
        splits.train.configure(lambda image: image.getpixel((0, 0))[0], replicas=2, rank=rank, batch_size=3, seed=0)
        seen.append(Counter(value // 10 for value, _, _ in splits.train))  # the shard each sample came from
    assert all(sum(counter.values()) == 12 for counter in seen)  # the same number of samples per process
    assert not set(seen[0]) & set(seen[1])  # and no shard read by both


def test_shards_refuse_repeated_augmentation_and_need_validation(tmp_path):
    write_shards(tmp_path / "one", "train", shards=1, per_shard=4)
    with pytest.raises(ValueError, match="need training shards and validation shards"):
        load_splits(str(tmp_path / "one"), 0.1, seed=0, bad_images="skip")
    write_shards(tmp_path / "two", "train", shards=2, per_shard=4)
    splits = load_splits(str(tmp_path / "two"), 0.1, seed=0, bad_images="skip")
    assert (len(splits.train), len(splits.val)) == (4, 4)  # one training shard held out whole
    module = ImageDataModule(splits, _to_tensor, _to_tensor, batch_size=2, workers=0, seed=0, aug_repeats=3)
    with pytest.raises(ValueError, match="--aug-repeats needs random access"):
        module.train_dataloader()
