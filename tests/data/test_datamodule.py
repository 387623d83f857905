"""The training sampler and loaders: one order for any number of processes, repeated augmentation, exact mid-epoch
resume, and image files checked as they are read."""

import json
import os
import signal
from collections import Counter
from pathlib import Path

import lightning as L
import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from mlpvision.cli import main
from mlpvision.data import ImageDataModule, load_splits
from mlpvision.data.datamodule import EpochSampler
from mlpvision.data.folder import BadImageError
from mlpvision.train import resolve_config, train

from .test_sources import write_bomb, write_folder


def _batches(sampler: EpochSampler) -> list[list[tuple[int, int]]]:
    pairs = list(sampler)
    return [pairs[i:i + sampler.batch_size] for i in range(0, len(pairs), sampler.batch_size)]


@pytest.mark.parametrize("repeats", [1, 3])
def test_processes_together_see_the_batches_of_one_process(repeats):
    one = EpochSampler(100, batch_size=12, seed=5, repeats=repeats)
    ranks = [EpochSampler(100, batch_size=4, replicas=3, rank=r, seed=5, repeats=repeats) for r in range(3)]
    for sampler in (one, *ranks):
        sampler.set_epoch(2)
    shared = [_batches(rank) for rank in ranks]
    assert len(_batches(one)) == 8 == len(shared[0])  # 100 samples: 8 whole global batches of 12
    for step, batch in enumerate(_batches(one)):  # same images with the same augmentation seeds
        assert Counter(batch) == Counter(pair for rank in shared for pair in rank[step])


def test_repeated_augmentation_follows_deit():
    sampler = EpochSampler(90, batch_size=9, seed=0, repeats=3)
    order = sampler.global_order()
    assert len(order) == 90  # an epoch keeps the dataset's length
    assert all(order[i] == order[i + 1] == order[i + 2] for i in range(0, 90, 3))  # each image 3 times in a row
    assert len(set(order)) == 30
    seeds = [seed for _, seed in sampler]
    assert len(set(seeds)) == len(seeds)  # every copy is augmented differently
    sampler.set_epoch(1)
    assert sampler.global_order() != order
    plain = EpochSampler(90, batch_size=9, seed=0)
    assert sorted(plain.global_order()) == list(range(90))  # without repeats: a permutation, as DistributedSampler


def test_a_resumed_epoch_yields_exactly_the_rest():
    full = EpochSampler(64, batch_size=8, seed=1, repeats=2)
    full.set_epoch(3)
    resumed = EpochSampler(64, batch_size=8, seed=1, repeats=2)
    resumed.set_epoch(3)
    resumed.start_batch = 5
    assert list(resumed) == list(full)[5 * 8:]
    assert len(resumed) == len(full)  # Lightning counts the epoch's batches from the start


# a few epochs on the digits with every augmentation that draws random numbers, and loader processes
SHORT = dict(epochs=2, warmup_epochs=1, mixup=0.2, cutmix=0.2, aa="rand-m5-mstd0.5", reprob=0.25, drop_path=0.1,
             workers=2, model_kwargs={"patch_size": 2, "depth": 2, "embed_dim": 32})


class _SigtermAt(L.Callback):
    """Deliver a real SIGTERM to this process after training batch ``batch`` of epoch ``epoch``."""

    def __init__(self, epoch: int, batch: int) -> None:
        self.epoch, self.batch = epoch, batch

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx: int) -> None:
        if trainer.current_epoch == self.epoch and batch_idx == self.batch:
            os.kill(os.getpid(), signal.SIGTERM)


def test_sigterm_mid_epoch_and_resume_equals_the_uninterrupted_run(tmp_path):
    """SIGTERM after batch k, then --resume from interrupted.ckpt: the weights equal an uninterrupted run's, with
    repeated augmentation, loader processes and random augmentation, mixup and drop path on."""
    settings, at = {**SHORT, "aug_repeats": 3}, (1, 3)
    train(resolve_config({**settings, "out": str(tmp_path / "straight")}))
    with pytest.raises(SystemExit):
        train(resolve_config({**settings, "out": str(tmp_path / "stopped")}), callbacks=[_SigtermAt(*at)])
    interrupted = torch.load(tmp_path / "stopped/checkpoints/interrupted.ckpt", weights_only=True)
    assert interrupted["loops"]["fit_loop"]["epoch_loop.batch_progress"]["current"]["completed"] == at[1] + 1
    train(resolve_config({"resume": str(tmp_path / "stopped")}))
    straight = load_file(tmp_path / "straight/checkpoints/last.safetensors")
    resumed = load_file(tmp_path / "stopped/checkpoints/last.safetensors")
    for key in straight:
        assert torch.equal(straight[key], resumed[key]), key


def _loader_module(root: Path, policy: str, batch_size: int = 4) -> ImageDataModule:
    splits = load_splits(str(root), 0.25, seed=0, bad_images=policy)
    to_tensor = lambda image: torch.from_numpy(np.array(image.resize((8, 8)))).permute(2, 0, 1)  # noqa: E731
    return ImageDataModule(splits, to_tensor, to_tensor, batch_size=batch_size, workers=0, seed=0)


def test_bad_files_are_found_as_they_are_read(tmp_path):
    write_folder(tmp_path / "train", {"a": 6, "b": 6})
    (tmp_path / "train/a/garbage.jpg").write_bytes(b"not an image at all")
    whole = (tmp_path / "train/b/0.png").read_bytes()
    (tmp_path / "train/b/truncated.png").write_bytes(whole[: len(whole) // 2])
    write_bomb(tmp_path / "train/b/bomb.png")
    module = _loader_module(tmp_path, "skip", batch_size=1)
    assert module.splits.bad_images == []  # nothing is opened before the loaders read
    training = list(module.train_dataloader())
    assert len(training) == len(module.splits.train)
    assert all(images.shape == (1, 3, 8, 8) for images, _ in training)  # batches stay whole: the next file stands in
    bad_in_val = sum(Path(p).name in ("bomb.png", "garbage.jpg", "truncated.png") for p in module.splits.val.items)
    evaluated = sum(len(images) for images, _ in module.val_dataloader())
    assert evaluated == len(module.splits.val) - bad_in_val  # evaluation leaves bad files out
    assert sorted(Path(p).name for p in module.splits.bad_images) == ["bomb.png", "garbage.jpg", "truncated.png"]

    strict = _loader_module(tmp_path, "error", batch_size=1)
    with pytest.raises(BadImageError, match=r"unreadable image .*(garbage|truncated|bomb)\.(jpg|png): .*--bad-images"):
        [batch for loader in (strict.train_dataloader(), strict.val_dataloader()) for batch in loader]


def test_cli_reports_bad_files_and_layout_surprises_in_results(tmp_path, capsys):
    write_folder(tmp_path / "data", {"a": 20, "b": 20, "single": 1})
    (tmp_path / "data/a/garbage.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    write_bomb(tmp_path / "data/b/bomb.png")
    (tmp_path / "data/loop").symlink_to(tmp_path / "data")
    argv = ["train", "--data", str(tmp_path / "data"), "--recipe", "digits", "--img-size", "8", "--epochs", "1",
            "--batch-size", "8", "--model-kwargs", "patch_size=2", "depth=1", "embed_dim=16"]
    assert main([*argv, "--out", str(tmp_path / "run")]) == 0
    results = json.loads((tmp_path / "run/results.json").read_text())
    assert sorted(Path(p).name for p in results["bad_image_paths"]) == ["bomb.png", "garbage.jpg"]
    assert results["bad_images"] == 2
    assert results["classes"] == ["a", "b", "single"]  # the symlink to the root is no class
    warnings = "\n".join(results["data_warnings"])
    assert "class 'single' has 1 image: it is kept for training" in warnings
    assert "loop: a symlink to" in warnings

    assert main([*argv, "--out", str(tmp_path / "strict"), "--bad-images", "error"]) == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert error.startswith("mlpvision train: error: unreadable image ")
    assert "--bad-images skip" in error
