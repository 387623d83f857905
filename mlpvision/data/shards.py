"""Tar shards in the webdataset layout (``<key>.jpg`` / ``.png`` / ``.webp`` beside ``<key>.cls``), streamed through
the ``webdataset`` library.

Each process of a multi-process run reads its own shards (the epoch's shard order, then every ``replicas``-th
shard), each loader worker its own part of those (``webdataset.split_by_worker``). Every process yields the same
number of whole batches per epoch (the shards it reads are repeated to fill its share when they hold fewer samples),
so no process waits on another at the epoch's end. A stream has no random access: a resumed epoch starts the
epoch's stream again, and ``--aug-repeats`` does not apply.
"""

import io
import json
import random
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from torch.utils.data import IterableDataset, get_worker_info

from .folder import BadImageError, read_image

IMAGE_SUFFIXES = ("jpg", "jpeg", "png", "webp", "bmp", "tif", "tiff")
SPLIT_WORDS = {"train": "train", "val": "val", "valid": "val", "validation": "val", "test": "test"}


def shard_files(root: Path) -> dict[str, list[Path]]:
    """``root``'s ``*.tar`` files by split, from a split word in the name (``imagenet-train-000042.tar``); names
    without one are training shards. Empty when ``root`` holds no tar files."""
    if not root.is_dir():
        return {}
    found: dict[str, list[Path]] = {}
    for path in sorted(root.glob("*.tar")):
        words = path.stem.replace("_", "-").replace(".", "-").split("-")
        split = next((SPLIT_WORDS[word] for word in words if word in SPLIT_WORDS), "train")
        found.setdefault(split, []).append(path)
    return found


def count_samples(shards: list[Path]) -> tuple[list[int], list[int]]:
    """Samples per shard and the label of every sample, read from the tar headers and the tiny ``.cls`` members
    (no image is read)."""
    counts, labels = [], []
    for shard in shards:
        images: set[str] = set()
        with tarfile.open(shard) as archive:
            for member in archive:
                key, _, suffix = member.name.rpartition(".")
                if suffix.lower() in IMAGE_SUFFIXES:
                    images.add(key)
                elif suffix == "cls":
                    labels.append(int(archive.extractfile(member).read()))
        counts.append(len(images))
    return counts, labels


class ShardStream(IterableDataset):
    """(RGB image or None, label, [(name, reason)]) samples of one split's shards. ``quota`` (per process) makes a
    training stream yield exactly that many samples; an unreadable image is reported with the next sample."""

    def __init__(self, shards: list[Path], length: int, train: bool, seed: int) -> None:
        self.shards, self.length, self.train, self.seed = shards, length, train, seed
        self.epoch, self.replicas, self.rank, self.batch_size = 0, 1, 0, 1
        self.transform: Any = None

    def __len__(self) -> int:
        return self.length // self.replicas  # this process's share

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def configure(self, transform: Any, replicas: int, rank: int, batch_size: int, seed: int) -> None:
        self.transform, self.replicas, self.rank, self.batch_size = transform, replicas, rank, batch_size
        self.seed = seed

    def _my_shards(self) -> list[str]:
        shards = [str(path) for path in self.shards]
        if self.train:
            random.Random(self.seed + self.epoch).shuffle(shards)
        mine = shards[self.rank::self.replicas]
        return mine or shards[self.rank % len(shards)::len(shards)]  # fewer shards than processes: share them

    def _quota(self) -> int | None:
        """Training: this worker's share of this process's whole batches (the DataLoader takes whole batches from
        each worker in turn). Evaluation: everything, once."""
        if not self.train:
            return None
        batches = self.length // (self.batch_size * self.replicas)
        info = get_worker_info()
        workers, worker = (info.num_workers, info.id) if info else (1, 0)
        return (batches // workers + (worker < batches % workers)) * self.batch_size

    def __iter__(self) -> Iterator[tuple[Any, int, list[tuple[str, str]]]]:
        import webdataset as wds

        quota, produced, pending = self._quota(), 0, []
        while quota is None or produced < quota:
            pipeline = wds.WebDataset(self._my_shards(), shardshuffle=False, nodesplitter=None,
                                      workersplitter=wds.split_by_worker, empty_check=False)
            if self.train:
                pipeline = pipeline.shuffle(1000, rng=random.Random(self.seed * 7919 + self.epoch * 31 + self.rank))
            before = produced
            for sample in pipeline:
                suffix = next((s for s in IMAGE_SUFFIXES if s in sample), None)
                name = f"{sample.get('__url__', '?')}:{sample['__key__']}"
                try:
                    if suffix is None or "cls" not in sample:
                        raise BadImageError(name, "no image or no .cls in this sample")
                    image = read_image(io.BytesIO(sample[suffix]), name)
                except BadImageError as error:
                    pending.append((error.path, error.reason))
                    if not self.train:
                        yield None, -1, pending
                        pending = []
                    continue
                yield self.transform(image), int(sample["cls"]), pending
                pending, produced = [], produced + 1
                if quota is not None and produced >= quota:
                    return
            if quota is None or produced == before:
                return  # evaluation reads once; a worker whose shards hold no readable sample stops


def shard_splits(root: Path, found: dict[str, list[Path]], val_split: float
                 ) -> tuple[dict[str, ShardStream], list[str], list[int]]:
    """Streams by split, the class names (``classes.txt``/``classes.json`` beside the shards, else the label
    numbers) and the training labels. Without validation shards, the last ``val_split`` of the training shards
    (at least one) are held out whole."""
    found = dict(found)
    if "val" not in found and len(found.get("train", [])) >= 2:
        held = max(1, round(val_split * len(found["train"])))
        found["train"], found["val"] = found["train"][:-held], found["train"][-held:]
    streams, train_labels = {}, []
    for split, shards in found.items():
        counts, labels = count_samples(shards)
        if split == "train":
            train_labels = labels
        streams[split] = ShardStream(shards, sum(counts), train=split == "train", seed=0)
    if "train" not in streams or "val" not in streams:
        raise ValueError(f"--data {root}: tar shards need training shards and validation shards (or at least 2 "
                         f"training shards to hold one out): name them *-train-*.tar and *-val-*.tar")
    if (root / "classes.json").is_file():
        classes = [str(name) for name in json.loads((root / "classes.json").read_text())]
    elif (root / "classes.txt").is_file():
        classes = [line.strip() for line in (root / "classes.txt").read_text().splitlines() if line.strip()]
    else:
        classes = [str(label) for label in range(max(train_labels, default=-1) + 1)]
    if train_labels and max(train_labels) >= len(classes):
        raise ValueError(f"--data {root}: a .cls label {max(train_labels)} is beyond the {len(classes)} classes named")
    return streams, classes, train_labels
