"""ImageDataModule: the splits, their transforms and loaders, with a sampler that makes every epoch reproducible.

The training order of an epoch depends only on the seed, the epoch number and ``--aug-repeats``, never on the
number of processes: one global order is cut into global batches and process ``r`` of ``R`` takes positions
``r, r + R, ...`` of it (``DistributedSampler``'s split), so N processes together see exactly the batches one process
with an N times larger batch would. Each sample's augmentation is seeded by its position in that order, so it does
not depend on which worker or process draws it either.

Resuming mid-epoch: Lightning restores its batch counters from ``interrupted.ckpt`` but restarts a plain loader
from its first batch (it only repositions loaders that have ``state_dict``/``load_state_dict``). The training loader
here has them: its state is the epoch and the number of batches the loop completed, and it starts again after
them, so a resumed run trains exactly the batches the interrupted epoch had left.
"""

import contextlib
import logging
import random
from collections.abc import Callable, Iterator
from typing import Any

import lightning as L
import numpy as np
import torch
import torch.distributed as dist
from timm.data.distributed_sampler import RepeatAugSampler
from torch.utils.data import DataLoader, Dataset, DistributedSampler, Sampler, get_worker_info

from .folder import BadImageError
from .shards import ShardStream
from .sources import Splits

_logger = logging.getLogger(__name__)
MAX_CONSECUTIVE_BAD = 50  # a run of unreadable files this long means the data is broken, not a few bad files


class TransformedDataset(Dataset):
    def __init__(self, base: Dataset, transform: Any) -> None:
        self.base = base
        self.transform = transform

    def __len__(self) -> int:
        return len(self.base)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        image, label = self.base[index]
        return self.transform(image), label


@contextlib.contextmanager
def seeded(seed: int | None) -> Iterator[None]:
    """Seed Python's, NumPy's and torch's global generators (which timm's and torchvision's transforms draw from)
    for one sample. In the training process itself (no loader workers) their states are put back afterwards;
    workers have no other use for them. (``torch.default_generator`` directly: ``torch.manual_seed`` also seeds
    every accelerator backend and costs about 1 ms.)"""
    if seed is None:
        yield
        return
    main_process = get_worker_info() is None
    states = (random.getstate(), np.random.get_state(), torch.default_generator.get_state()) if main_process else None
    random.seed(seed)
    np.random.seed(seed)
    torch.default_generator.manual_seed(seed)
    try:
        yield
    finally:
        if states is not None:
            random.setstate(states[0])
            np.random.set_state(states[1])
            torch.default_generator.set_state(states[2])


class CheckedSamples(Dataset):
    """``base`` transformed, checking each file as it is read. Keys are an index, or ``(index, seed)`` from
    ``EpochSampler`` (the transform then runs seeded). A sample is ``(tensor or None, label, [(path, reason)])``:
    with ``substitute`` an unreadable file is replaced by the next readable one (timm's ``ImageDataset`` does the
    same), which keeps batches whole; without, it comes back as ``None`` for the loader to drop or stop on."""

    def __init__(self, base: Dataset, transform: Any, substitute: bool) -> None:
        self.base = base
        self.transform = transform
        self.substitute = substitute

    def __len__(self) -> int:
        return len(self.base)

    def __getitem__(self, key: int | tuple[int, int]) -> tuple[torch.Tensor | None, int, list[tuple[str, str]]]:
        index, seed = key if isinstance(key, tuple) else (key, None)
        bad: list[tuple[str, str]] = []
        for offset in range(min(MAX_CONSECUTIVE_BAD, len(self.base))):
            try:
                image, label = self.base[(index + offset) % len(self.base)]
            except BadImageError as error:
                bad.append((error.path, error.reason))
                if not self.substitute:
                    return None, -1, bad
                continue
            with seeded(seed):
                return self.transform(image), label, bad
        shown = "; ".join(f"{path}: {reason}" for path, reason in bad[:3])
        raise ValueError(f"{len(bad)} image files in a row are unreadable, the data looks broken: {shown}; ...")


def collate(samples: list[tuple[torch.Tensor | None, int, list[tuple[str, str]]]]
            ) -> tuple[torch.Tensor, torch.Tensor, list[tuple[str, str]]]:
    """Stack the readable samples; the unreadable ones travel beside them by path."""
    kept = [(image, label) for image, label, _ in samples if image is not None]
    bad = [entry for _, _, entries in samples for entry in entries]
    if not kept:
        return torch.empty(0), torch.empty(0, dtype=torch.long), bad
    return torch.stack([image for image, _ in kept]), torch.tensor([label for _, label in kept]), bad


class EpochSampler(Sampler[tuple[int, int]]):
    """One process's share of an epoch, as ``(index, augmentation seed)`` pairs.

    The epoch's global order is timm's ``RepeatAugSampler`` for one replica (DeiT's repeated augmentation: a
    permutation with each index repeated ``repeats`` times in a row, cut to the dataset's length, so an epoch keeps
    its number of samples and sees about 1/``repeats`` of the images, each ``repeats`` times), generated from
    ``seed + epoch`` (with ``repeats=1``: ``DistributedSampler``'s permutation). It is cut to whole global batches;
    process ``rank`` takes every ``replicas``-th position, from batch ``start_batch`` on. DeiT splits its order
    across processes the same way, so the copies of an image go to different processes there, and into one batch on
    one process. The seed of a sample is a function of (seed, epoch, position in the global order)."""

    def __init__(self, size: int, batch_size: int, replicas: int = 1, rank: int = 0, seed: int = 0,
                 repeats: int = 1) -> None:
        super().__init__()
        self.size, self.batch_size, self.replicas, self.rank = size, batch_size, replicas, rank
        self.seed, self.repeats = seed, repeats
        self.epoch = 0
        self.start_batch = 0
        self.batches = size // (batch_size * replicas)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def global_order(self) -> list[int]:
        """The epoch's order over all processes (dataset indices, repeats included)."""
        order = RepeatAugSampler(range(self.size), num_replicas=1, rank=0, shuffle=True, num_repeats=self.repeats,
                                 selected_round=0)
        order.set_epoch(self.seed + self.epoch)
        return list(order)

    def sample_seed(self, position: int) -> int:
        return ((self.seed * 1_000_003 + self.epoch) * 100_000_007 + position) % 2**32

    def __iter__(self) -> Iterator[tuple[int, int]]:
        order = self.global_order()
        global_batch = self.batch_size * self.replicas
        for position in range(self.start_batch * global_batch + self.rank, self.batches * global_batch,
                              self.replicas):
            yield order[position], self.sample_seed(position)

    def __len__(self) -> int:
        return self.batches * self.batch_size


class CheckedLoader(DataLoader):
    """A loader over ``CheckedSamples`` that yields ``(images, labels)``: unreadable files are recorded in
    ``bad_images`` by path (each once, with a warning giving the reason) or, under ``policy='error'``, stop the run
    with one line naming the file. With ``progress`` (the trainer's (epoch, batches completed)) it is resumable:
    Lightning saves its ``state_dict`` with a mid-epoch checkpoint and hands it back on resume."""

    def __init__(self, *args: Any, bad_images: list[str], policy: str,
                 progress: Callable[[], tuple[int, int]] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, collate_fn=collate, **kwargs)
        self.bad_images = bad_images
        self.policy = policy
        self.progress = progress
        self._resume_at: dict[str, int] | None = None

    def state_dict(self) -> dict[str, int]:
        epoch, completed = self.progress() if self.progress else (0, 0)
        return {"epoch": epoch, "batches_completed": completed}

    def load_state_dict(self, state: dict[str, int]) -> None:
        self._resume_at = dict(state)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        sampler = self.sampler
        if isinstance(self.dataset, ShardStream):
            self.dataset.set_epoch(self.progress()[0] if self.progress else self.dataset.epoch)
        if isinstance(sampler, EpochSampler):
            # the epoch is set here as well as by Lightning: a loader with workers draws its first indices as soon
            # as its iterator exists, and Lightning creates that iterator before it sets the epoch of a resumed run
            epoch = self.progress()[0] if self.progress else sampler.epoch
            sampler.set_epoch(epoch)
            resume, self._resume_at = self._resume_at, None
            sampler.start_batch = resume["batches_completed"] if resume and resume["epoch"] == epoch else 0
        for images, labels, bad in super().__iter__():
            self._record(bad)
            if len(images):
                yield images, labels

    def _record(self, bad: list[tuple[str, str]]) -> None:
        for path, reason in bad:
            if self.policy == "error":
                raise BadImageError(path, f"{reason} (use --bad-images skip to leave such files out)")
            if path not in self.bad_images:
                _logger.warning("skipping unreadable image %s: %s", path, reason)
                self.bad_images.append(path)


class ImageDataModule(L.LightningDataModule):
    """Loaders over already-listed ``Splits`` (cheap to build: files are read and checked by the loaders)."""

    def __init__(
            self, splits: Splits, train_transform: Any, eval_transform: Any, batch_size: int, workers: int, seed: int,
            aug_repeats: int = 1,
    ) -> None:
        super().__init__()
        self.splits = splits
        self.train_transform = train_transform
        self.eval_transform = eval_transform
        self.batch_size = batch_size
        self.workers = workers
        self.seed = seed
        self.aug_repeats = aug_repeats

    def _replicas(self) -> tuple[int, int]:
        trainer = self.trainer
        return (trainer.world_size, trainer.global_rank) if trainer is not None else (1, 0)

    def _progress(self) -> tuple[int, int]:
        loop = self.trainer.fit_loop
        return loop.epoch_progress.current.processed, loop.epoch_loop.batch_progress.current.completed

    def _loader(self, dataset: Dataset, sampler: Sampler | None, train: bool) -> CheckedLoader:
        skip = self.splits.bad_image_policy == "skip"
        transform = self.train_transform if train else self.eval_transform
        if isinstance(dataset, ShardStream):
            dataset.configure(transform, *self._replicas(), self.batch_size, self.seed)
            sampler = None
        else:
            dataset = CheckedSamples(dataset, transform, substitute=train and skip)
        return CheckedLoader(
            dataset, batch_size=self.batch_size, sampler=sampler, drop_last=train, num_workers=self.workers,
            persistent_workers=False, pin_memory=torch.cuda.is_available(), bad_images=self.splits.bad_images,
            policy=self.splits.bad_image_policy, progress=self._progress if train and self.trainer else None,
        )

    def train_dataloader(self) -> CheckedLoader:
        replicas, rank = self._replicas()
        if isinstance(self.splits.train, ShardStream) and self.aug_repeats > 1:
            raise ValueError("--aug-repeats needs random access to the images; tar shards are streamed (use 1)")
        if len(self.splits.train) < self.batch_size * replicas:
            raise ValueError(
                f"--batch-size {self.batch_size} is larger than the {len(self.splits.train)} training images"
                + (f" shared by {replicas} processes" if replicas > 1 else "")
            )
        sampler = EpochSampler(len(self.splits.train), self.batch_size, replicas, rank, self.seed, self.aug_repeats)
        return self._loader(self.splits.train, sampler, train=True)

    def _eval_loader(self, dataset: Dataset) -> CheckedLoader:
        replicas, rank = self._replicas()
        stream = isinstance(dataset, ShardStream)
        sampler = None if stream else DistributedSampler(dataset, replicas, rank, shuffle=False)
        return self._loader(dataset, sampler, train=False)

    def val_dataloader(self) -> CheckedLoader:
        return self._eval_loader(self.splits.val)

    def test_dataloader(self) -> CheckedLoader:
        return self._eval_loader(self.splits.test or self.splits.val)

    def teardown(self, stage: str) -> None:
        """Every process's unreadable files into every process's list (results.json is written by process 0)."""
        if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
            gathered: list[list[str] | None] = [None] * dist.get_world_size()
            dist.all_gather_object(gathered, list(self.splits.bad_images))
            merged = list(dict.fromkeys(entry for part in gathered for entry in part or []))
            self.splits.bad_images[:] = merged
