"""train(): data -> model -> trainer -> fit -> test -> results, top to bottom."""

import dataclasses
import datetime
import json
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import lightning as L
import timm
import yaml
from lightning.fabric.utilities.seed import seed_everything
from lightning.pytorch.callbacks import RichProgressBar
from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger
from lightning.pytorch.utilities import rank_zero_only
from torch import nn
from torchvision.transforms import Compose

from ..complexity import count_parameters
from ..data import ImageDataModule, build_transforms, data_config, load_splits, train_options
from ..data.permute import FixedPermutation
from ..models import read_checkpoint
from ..models._weights import load_checked
from .checkpoint import AtomicCheckpointIO, RunCheckpoints, RunFolder, completed_epochs, latest_state, read_state
from .config import RESUMABLE, TrainConfig, flag, read_run_config
from .module import ImageClassifier, NonFiniteLossError
from .report import combine_metrics, plot_curves, print_results, stash_metrics

RUN_DIR_ENV = "MLPVISION_RUN_DIR"  # shared with the processes a multi-device launch starts


class BatchReseed(L.Callback):
    """Seed every RNG from (seed, epoch, batch, rank) before each training batch: a step's randomness (mixup, drop
    path) does not depend on what ran before it, so a run resumed at an epoch boundary or mid-epoch repeats the
    uninterrupted one exactly (the loader seeds each sample's augmentation itself)."""

    def __init__(self, seed: int) -> None:
        self.seed = seed

    def on_train_batch_start(self, trainer: L.Trainer, module: L.LightningModule, batch: Any, batch_idx: int) -> None:
        seed = (self.seed + 1000 * trainer.current_epoch + trainer.global_rank) * 100_003 + batch_idx
        seed_everything(seed % 2**32, workers=True, verbose=False)


class ProgressBar(RichProgressBar):
    """Lightning's rich progress bar without the logger-version field."""

    def get_metrics(self, trainer: L.Trainer, module: L.LightningModule) -> dict[str, Any]:
        metrics = super().get_metrics(trainer, module)
        metrics.pop("v_num", None)
        return metrics


class EpochSummary(L.Callback):
    """One line per epoch when the output is not a terminal (logs, CI), where the progress bar does not draw."""

    def __init__(self) -> None:
        self.started = time.perf_counter()

    def on_validation_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        if trainer.sanity_checking or not trainer.is_global_zero or sys.stdout.isatty():
            return
        metrics = trainer.callback_metrics
        parts = [f"{key} {float(metrics[key]):.4f}" for key in ("train_loss", "val_loss", "val_top1") if key in metrics]
        elapsed = time.perf_counter() - self.started
        print(f"epoch {trainer.current_epoch + 1}/{trainer.max_epochs}: {', '.join(parts)} ({elapsed:.0f} s)",
              flush=True)


def create_model(config: TrainConfig, num_classes: int) -> nn.Module:
    """``timm.create_model`` with the run's classes, drop path and input size (omitted for models without one)."""
    kwargs: dict[str, Any] = {"num_classes": num_classes, **config.model_kwargs}
    if config.drop_path is not None:
        kwargs["drop_path_rate"] = config.drop_path
    if config.img_size is not None:
        kwargs["img_size"] = config.img_size
    try:
        return timm.create_model(config.model, **kwargs)
    except TypeError as error:
        if "img_size" not in str(error):
            raise
        kwargs.pop("img_size")  # convolutional baselines take any input size
        return timm.create_model(config.model, **kwargs)


def run_transforms(model: nn.Module, img_size: int | Sequence[int] | None, options: dict[str, Any],
                   permute: str | None, permute_patch: int | None, seed: int) -> tuple[dict[str, Any], Any, Any]:
    """A run's data config and (train, eval) transforms: timm's for ``model`` at ``img_size``, each followed by the
    run's fixed ``--permute`` (one permutation, drawn from the run's ``seed``). Training and every command that
    scores a run's checkpoint build them here, so a permuted run is always scored on the images it was tested on."""
    data_cfg = data_config(model, img_size)
    train_transform, eval_transform = build_transforms(data_cfg, options)
    if permute:
        _, height, width = data_cfg["input_size"]
        permutation = FixedPermutation(permute, height, width, permute_patch or getattr(model, "patch_size", None),
                                       seed)
        train_transform, eval_transform = (Compose([t, permutation]) for t in (train_transform, eval_transform))
    return data_cfg, train_transform, eval_transform


def load_initial_weights(model: nn.Module, path: str) -> None:
    """Start from another run's or release's weights: new head, token-mixing weights resampled to this grid."""
    if hasattr(model, "load_pretrained"):
        model.load_pretrained(path)
        return
    state, _ = read_checkpoint(path)
    load_checked(model, state, path)


def _run_dir(config: TrainConfig) -> Path:
    if config.resume:
        return Path(config.resume)
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    run_dir = Path(config.out or os.environ.get(RUN_DIR_ENV) or f"runs/{stamp}")
    os.environ[RUN_DIR_ENV] = str(run_dir)
    return run_dir


def train(config: TrainConfig, callbacks: Sequence[L.Callback] = ()) -> dict[str, Any]:
    """Train ``config.model`` on ``config.data``; write the run folder; return the results.

    The first process holds the run folder (``RunFolder``) for the whole run; the processes a multi-device launch
    starts write into the folder it holds.
    """
    run_dir = _run_dir(config)
    if rank_zero_only.rank != 0:
        return _train(config, run_dir, callbacks, owner=False)
    with RunFolder(run_dir, resume=bool(config.resume), overwrite=config.overwrite):
        return _train(config, run_dir, callbacks, owner=True)


def _train(config: TrainConfig, run_dir: Path, callbacks: Sequence[L.Callback], owner: bool) -> dict[str, Any]:
    # ---- run folder and configuration: a resumed run continues with its config.yaml and the changes it allows
    state_path = None
    if config.resume:
        state_path = latest_state(run_dir)
        done = completed_epochs(read_state(state_path, mmap=True))
        if config.epochs < done:
            raise ValueError(f"--resume {run_dir} --epochs {config.epochs}: the run has already trained {done} "
                             f"epochs; give --epochs {done + 1} or more to train further")
        if (run_dir / "results.json").is_file() and config.epochs == done:
            print(f"{run_dir} has finished its {done} epochs; nothing changed (give --epochs {done + 1} or more to "
                  f"train further)")
            return json.loads((run_dir / "results.json").read_text())
        before = TrainConfig(**read_run_config(run_dir))
        fixed = [name for name in dataclasses.asdict(config) if name not in (*RESUMABLE, "resume", "out", "overwrite")
                 and getattr(config, name) != getattr(before, name)]
        if fixed:  # a configuration built by hand rather than by resolve_config({"resume": ...})
            raise ValueError(f"--resume {run_dir}: {', '.join(map(flag, fixed))} differ from its config.yaml; only "
                             f"{', '.join(map(flag, RESUMABLE))} can change in a resumed run")
        changes = [f"{flag(name)} {getattr(before, name)} → {getattr(config, name)}" for name in RESUMABLE
                   if getattr(before, name) != getattr(config, name)]
        if owner:
            print(f"resuming {run_dir} from {state_path.name} after {done} epochs"
                  + (f", with {', '.join(changes)}" if changes else ""), flush=True)
    seed_everything(config.seed, workers=True, verbose=False)

    # ---- data
    splits = load_splits(config.data, config.val_split, config.seed, config.bad_images)
    num_classes = len(splits.classes)

    # ---- model
    model = create_model(config, num_classes)
    if config.init:
        load_initial_weights(model, config.init)
    if config.compile:
        model.compile()
    data_cfg, train_transform, eval_transform = run_transforms(model, config.img_size, train_options(config),
                                                               config.permute, config.permute_patch, config.seed)
    datamodule = ImageDataModule(splits, train_transform, eval_transform, config.batch_size, config.workers,
                                 config.seed, config.aug_repeats)
    replicas = config.devices * config.num_nodes
    steps_per_epoch = max(1, len(splits.train) // (config.batch_size * replicas))
    module = ImageClassifier(model, config, num_classes, steps_per_epoch)

    # ---- trainer
    checkpoints = run_dir / "checkpoints"
    if owner:
        # what this run trains with; a resumed run records the changes it was given
        recorded = _plain({**dataclasses.asdict(config), "resume": None, "overwrite": False})
        (run_dir / "config.yaml").write_text(yaml.safe_dump(recorded))
        stash_metrics(run_dir)  # a resumed run appends to the metrics of the runs before it (joined at the end)
    metadata = {"architecture": config.model, "img_size": f"{data_cfg['input_size'][1]}x{data_cfg['input_size'][2]}",
                "classes": json.dumps(splits.classes), "model_kwargs": json.dumps(config.model_kwargs)}
    run_checkpoints = RunCheckpoints(checkpoints, metadata)
    trainer = L.Trainer(
        max_epochs=config.epochs, accelerator=config.accelerator, devices=config.devices,
        num_nodes=config.num_nodes, strategy=config.strategy, precision=config.precision,
        gradient_clip_val=config.clip_grad, accumulate_grad_batches=config.grad_accum_steps,
        logger=[CSVLogger(run_dir, name="", version=""), TensorBoardLogger(run_dir, name="", version="tensorboard")],
        callbacks=[
            run_checkpoints, BatchReseed(config.seed), ProgressBar(leave=True), EpochSummary(), *callbacks,
        ],
        plugins=[AtomicCheckpointIO()], enable_checkpointing=False, use_distributed_sampler=False,
        enable_model_summary=False, log_every_n_steps=max(1, min(50, steps_per_epoch)), num_sanity_val_steps=0,
    )

    # ---- fit, continuing from the newest saved state when resuming
    started = time.perf_counter()
    try:
        trainer.fit(module, datamodule=datamodule, ckpt_path=state_path)
    except NonFiniteLossError as error:
        raise NonFiniteLossError(f"{error}; {_after_nan(config, run_dir)}") from None
    train_seconds = time.perf_counter() - started

    # ---- test the best weights
    best = checkpoints / "best.safetensors"
    if best.is_file():
        state, _ = read_checkpoint(best)
        module.eval_model.load_state_dict(state)
    test_metrics = trainer.test(module, datamodule=datamodule, verbose=False)[0]

    # ---- results
    results = {
        "model": config.model, "model_kwargs": config.model_kwargs, "data": config.data,
        "params": count_parameters(model), "epochs": trainer.current_epoch, "train_seconds": round(train_seconds, 2),
        "best_epoch": run_checkpoints.best_epoch, "val_top1": round(100 * run_checkpoints.best_top1, 3),
        "test_top1": round(100 * test_metrics["test_top1"], 3), "test_top5": round(100 * test_metrics["test_top5"], 3),
        "test_split": "test" if splits.test is not None else "val", "bad_images": len(splits.bad_images),
        "bad_image_paths": splits.bad_images, "data_warnings": splits.warnings, "classes": splits.classes,
        "out": str(run_dir),
    }
    if trainer.is_global_zero:
        (run_dir / "results.json").write_text(json.dumps(results, indent=2))
        combine_metrics(run_dir)
        plot_curves(run_dir / "metrics.csv", run_dir / "curves.png")
        (checkpoints / "interrupted.ckpt").unlink(missing_ok=True)  # the finished run holds every step it took
        print_results(results)
    return results


def _plain(value: Any) -> Any:
    """Tuples as lists, at any depth: YAML's safe form (read back, ``TrainConfig`` turns pairs into tuples again)."""
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, tuple | list):
        return [_plain(item) for item in value]
    return value


def _after_nan(config: TrainConfig, run_dir: Path) -> str:
    """What a non-finite loss left behind, and the command that carries on from it."""
    lower = f"--lr {config.resolved_lr / 10:.3g} or --clip-grad 1"
    try:
        kept = latest_state(run_dir)
    except FileNotFoundError:
        return f"no checkpoint was written before it, so nothing is kept: start again with --out {run_dir} " \
               f"--overwrite and {lower}"
    return f"the last good state, {kept}, is kept: continue with --resume {run_dir} and {lower}"

