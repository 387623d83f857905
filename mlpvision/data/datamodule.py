"""ImageDataModule: the splits, their transforms and loaders, with samplers that make every epoch reproducible.

The training sampler is a ``DistributedSampler`` on one process too (one replica): an epoch's order depends only on
the seed and the epoch number, so a resumed run sees the same batches as an uninterrupted one, and N processes
together see exactly the batches one process would.
"""

from typing import Any

import lightning as L
import torch
from torch.utils.data import DataLoader, Dataset, DistributedSampler

from .sources import Splits


class TransformedDataset(Dataset):
    def __init__(self, base: Dataset, transform: Any) -> None:
        self.base = base
        self.transform = transform

    def __len__(self) -> int:
        return len(self.base)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        image, label = self.base[index]
        return self.transform(image), label


class ImageDataModule(L.LightningDataModule):
    """Loaders over already-read ``Splits`` (cheap to build: images are opened lazily by the datasets)."""

    def __init__(
            self, splits: Splits, train_transform: Any, eval_transform: Any, batch_size: int, workers: int, seed: int
    ) -> None:
        super().__init__()
        self.splits = splits
        self.train_transform = train_transform
        self.eval_transform = eval_transform
        self.batch_size = batch_size
        self.workers = workers
        self.seed = seed

    def _loader(self, dataset: Dataset, transform: Any, train: bool) -> DataLoader:
        trainer = self.trainer
        replicas, rank = (trainer.world_size, trainer.global_rank) if trainer is not None else (1, 0)
        sampler = DistributedSampler(
            dataset, num_replicas=replicas, rank=rank, shuffle=train, seed=self.seed, drop_last=train
        )
        return DataLoader(
            TransformedDataset(dataset, transform), batch_size=self.batch_size, sampler=sampler, drop_last=train,
            num_workers=self.workers, persistent_workers=False, pin_memory=torch.cuda.is_available(),
        )

    def train_dataloader(self) -> DataLoader:
        if len(self.splits.train) < self.batch_size:
            raise ValueError(
                f"--batch-size {self.batch_size} is larger than the {len(self.splits.train)} training images"
            )
        return self._loader(self.splits.train, self.train_transform, train=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader(self.splits.val, self.eval_transform, train=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader(self.splits.test or self.splits.val, self.eval_transform, train=False)
