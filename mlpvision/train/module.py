"""ImageClassifier: any timm-creatable model trained with timm's losses, Mixup/CutMix, optimisers and schedulers."""

import math
from typing import Any

import lightning as L
import torch
import torch.nn.functional as F
from timm.data import Mixup
from timm.loss import LabelSmoothingCrossEntropy, SoftTargetCrossEntropy
from timm.optim import create_optimizer_v2
from timm.scheduler import create_scheduler_v2
from timm.utils import ModelEmaV3
from torch import nn
from torchmetrics.classification import MulticlassAccuracy

from .config import TrainConfig


class NonFiniteLossError(ValueError):
    """The training loss became NaN or infinite."""


class ImageClassifier(L.LightningModule):
    """Training, validation and test steps around ``model``; the EMA weights (when kept) are the ones evaluated."""

    def __init__(self, model: nn.Module, config: TrainConfig, num_classes: int, steps_per_epoch: int) -> None:
        super().__init__()
        self.model = model
        self.config = config
        self.steps_per_epoch = steps_per_epoch
        self.ema = ModelEmaV3(model, decay=config.model_ema_decay) if config.model_ema else None
        mixing = config.mixup > 0 or config.cutmix > 0
        self.mixup = Mixup(
            mixup_alpha=config.mixup, cutmix_alpha=config.cutmix, label_smoothing=config.smoothing,
            num_classes=num_classes,
        ) if mixing else None
        self.train_loss = (
            SoftTargetCrossEntropy() if mixing
            else LabelSmoothingCrossEntropy(config.smoothing) if config.smoothing > 0 else nn.CrossEntropyLoss()
        )
        top_k = min(5, num_classes)
        self.metrics = nn.ModuleDict({
            f"{stage}_{name}": MulticlassAccuracy(num_classes, top_k=k, average="micro")
            for stage in ("val", "test") for name, k in (("top1", 1), ("top5", top_k))
        })

    @property
    def eval_model(self) -> nn.Module:
        return self.ema.module if self.ema is not None else self.model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.eval_model(x)

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        images, labels = batch
        if self.mixup is not None:
            images, labels = self.mixup(images, labels)
        loss = self.train_loss(self.model(images), labels)
        if not torch.isfinite(loss):
            raise NonFiniteLossError(
                f"the training loss became {loss.item()} at epoch {self.current_epoch}, step {self.global_step}; "
                f"training stopped"
            )
        self.log("train_loss", loss, on_step=False, on_epoch=True, prog_bar=True, sync_dist=True)
        self.log("lr", self.optimizers().param_groups[0]["lr"], on_step=False, on_epoch=True)
        return loss

    def on_train_batch_end(self, outputs: Any, batch: Any, batch_idx: int) -> None:
        if self.ema is not None:
            self.ema.update(self.model, step=self.global_step)

    def _evaluate(self, batch: tuple[torch.Tensor, torch.Tensor], stage: str) -> None:
        images, labels = batch
        logits = self.eval_model(images)
        self.log(f"{stage}_loss", F.cross_entropy(logits, labels), prog_bar=stage == "val", sync_dist=True)
        for name in ("top1", "top5"):
            metric = self.metrics[f"{stage}_{name}"]
            metric(logits, labels)
            self.log(f"{stage}_{name}", metric, prog_bar=name == "top1")

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        self._evaluate(batch, "val")

    def test_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        self._evaluate(batch, "test")

    def configure_optimizers(self) -> dict[str, Any]:
        config = self.config
        eps = {"eps": config.opt_eps} if config.opt_eps is not None else {}
        optimizer = create_optimizer_v2(
            self.model, opt=config.opt, lr=config.resolved_lr, weight_decay=config.weight_decay, **eps
        )
        updates_per_epoch = math.ceil(self.steps_per_epoch / config.grad_accum_steps)
        # a warm-up given in updates (Mixer's 10k steps) becomes the fraction of epochs timm schedules in
        warmup_epochs = (config.warmup_epochs if config.warmup_steps is None
                         else config.warmup_steps / updates_per_epoch)
        # timm puts a warm-up prefix on top of num_epochs: take it off, so the run still ends at --epochs
        decay_epochs = config.epochs - warmup_epochs if config.warmup_prefix else config.epochs
        if decay_epochs <= 0:
            raise ValueError(f"the warm-up ({warmup_epochs * updates_per_epoch:.0f} updates) fills all "
                             f"{config.epochs * updates_per_epoch} updates of the run; shorten it or raise --epochs")
        scheduler, _ = create_scheduler_v2(
            optimizer, sched=config.sched, num_epochs=decay_epochs, warmup_epochs=warmup_epochs,
            warmup_prefix=config.warmup_prefix, warmup_lr=config.warmup_lr, min_lr=config.min_lr,
            decay_rate=config.decay_rate, step_on_epochs=False, updates_per_epoch=updates_per_epoch,
        )
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}

    def lr_scheduler_step(self, scheduler: Any, metric: Any) -> None:
        scheduler.step_update(num_updates=self.global_step)

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        # timm's schedulers hold nothing but their settings (the rate is a function of the step), so the one built
        # from this configuration replaces the saved one: a resumed run with a new --epochs or --lr follows them
        checkpoint["lr_schedulers"] = []

    def on_train_start(self) -> None:
        # the rate of the step about to be taken, from this run's schedule (a resumed state holds the old one's)
        for config in self.trainer.lr_scheduler_configs:
            config.scheduler.step_update(num_updates=self.global_step)
