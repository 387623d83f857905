"""Checkpoints that survive a crash mid-write and load without executing code.

* ``AtomicCheckpointIO``: Lightning's training state (``last.ckpt``) written to a temporary file, fsynced and
  renamed over the old one; read back with ``torch.load(weights_only=True)``.
* ``RunCheckpoints``: after every validation, that state (``last.ckpt``) and the model's weights as safetensors
  (``last.safetensors``, and ``best.safetensors`` at the best validation top-1); on Ctrl-C or SIGTERM, the state to
  ``interrupted.ckpt``. A non-finite loss saves nothing, so the last good checkpoint stays.

Resuming from ``last.ckpt`` (an epoch boundary) or from ``interrupted.ckpt`` (mid-epoch: the training loader starts
after the batches the loop completed, see ``data/datamodule.py``) repeats the uninterrupted run exactly; with
``--grad-accum-steps`` > 1 only when interrupted at an optimiser step (gradients accumulated since are not saved).
"""

import os
import tempfile
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.plugins.io import TorchCheckpointIO
from lightning.pytorch.utilities.exceptions import SIGTERMException

from ..models import save_weights


class AtomicCheckpointIO(TorchCheckpointIO):
    """Write to a temporary file in the same folder, fsync, rename; load with ``weights_only=True``."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path: str | Path, storage_options: Any = None) -> None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            with os.fdopen(handle, "wb") as stream:
                torch.save(checkpoint, stream)
                stream.flush()
                os.fsync(stream.fileno())
            os.replace(tmp_name, path)
        finally:
            if os.path.exists(tmp_name):
                os.unlink(tmp_name)

    def load_checkpoint(self, path: str | Path, map_location: Any = None, weights_only: bool | None = None) -> Any:
        return torch.load(path, map_location=map_location or "cpu", weights_only=True)


def latest_state(run_dir: Path) -> Path:
    """The newest resumable state of a run folder (``interrupted.ckpt`` or ``last.ckpt``)."""
    candidates = [run_dir / "checkpoints" / name for name in ("interrupted.ckpt", "last.ckpt")]
    existing = [path for path in candidates if path.is_file()]
    if not existing:
        raise FileNotFoundError(f"--resume {run_dir}: no checkpoints/last.ckpt or interrupted.ckpt to resume from")
    return max(existing, key=lambda path: path.stat().st_mtime_ns)


class RunCheckpoints(L.Callback):
    """The run's checkpoints: after every validation the training state (``last.ckpt``) and the weights
    (``last.safetensors``; ``best.safetensors`` at the best validation top-1); on Ctrl-C or SIGTERM after steps
    that no checkpoint holds yet, the state to ``interrupted.ckpt``. A non-finite loss saves nothing."""

    def __init__(self, folder: Path, metadata: dict[str, str]) -> None:
        self.folder = folder
        self.metadata = metadata
        self.best_top1 = -1.0
        self.best_epoch = -1
        self.saved_step = -1

    def on_validation_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        if trainer.sanity_checking:
            return
        top1 = float(trainer.callback_metrics.get("val_top1", -1.0))
        improved = top1 > self.best_top1
        if improved:
            self.best_top1, self.best_epoch = top1, trainer.current_epoch
        if trainer.is_global_zero:
            save_weights(module.eval_model, self.folder / "last.safetensors", self.metadata)
            if improved:
                save_weights(module.eval_model, self.folder / "best.safetensors", self.metadata)
        self.saved_step = trainer.global_step
        trainer.save_checkpoint(self.folder / "last.ckpt", weights_only=False)

    def on_exception(self, trainer: L.Trainer, module: L.LightningModule, exception: BaseException) -> None:
        if not isinstance(exception, KeyboardInterrupt | SIGTERMException):
            return
        if trainer.global_step != self.saved_step:
            trainer.save_checkpoint(self.folder / "interrupted.ckpt", weights_only=False)
            saved = self.folder / "interrupted.ckpt"
        else:
            saved = self.folder / "last.ckpt"
        if trainer.is_global_zero:
            print(f"\ninterrupted: training state in {saved}; continue with --resume {self.folder.parent}", flush=True)

    def state_dict(self) -> dict[str, Any]:
        return {"best_top1": self.best_top1, "best_epoch": self.best_epoch}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.best_top1 = state_dict["best_top1"]
        self.best_epoch = state_dict["best_epoch"]
