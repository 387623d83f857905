"""Checkpoints that survive a crash mid-write and load without executing code.

* ``AtomicCheckpointIO``: Lightning's training state (``last.ckpt``) written to a temporary file, fsynced and
  renamed over the old one; read back with ``torch.load(weights_only=True)``.
* ``WeightsWriter``: the model's weights as safetensors after every validation (``last.safetensors``) and at the
  best validation top-1 (``best.safetensors``), through ``save_weights`` (atomic too).
* ``InterruptCheckpoint``: on Ctrl-C or SIGTERM, the state is saved to ``interrupted.ckpt`` before exiting. A
  non-finite loss saves nothing, so the last good checkpoint stays.
"""

import logging
import os
import tempfile
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.plugins.io import TorchCheckpointIO
from lightning.pytorch.utilities.exceptions import SIGTERMException

from ..models import save_weights

_logger = logging.getLogger(__name__)


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


class WeightsWriter(L.Callback):
    """``last.safetensors`` after every validation, ``best.safetensors`` at the best validation top-1."""

    def __init__(self, folder: Path, metadata: dict[str, str]) -> None:
        self.folder = folder
        self.metadata = metadata
        self.best_top1 = -1.0
        self.best_epoch = -1

    def on_validation_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        if trainer.sanity_checking:
            return
        top1 = float(trainer.callback_metrics.get("val_top1", -1.0))
        if trainer.is_global_zero:
            weights = module.eval_model
            save_weights(weights, self.folder / "last.safetensors", self.metadata)
            if top1 > self.best_top1:
                save_weights(weights, self.folder / "best.safetensors", self.metadata)
        if top1 > self.best_top1:
            self.best_top1, self.best_epoch = top1, trainer.current_epoch

    def state_dict(self) -> dict[str, Any]:
        return {"best_top1": self.best_top1, "best_epoch": self.best_epoch}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.best_top1 = state_dict["best_top1"]
        self.best_epoch = state_dict["best_epoch"]


class InterruptCheckpoint(L.Callback):
    """Save the training state when the run is interrupted by Ctrl-C or SIGTERM."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.saved = False

    def on_exception(self, trainer: L.Trainer, module: L.LightningModule, exception: BaseException) -> None:
        if isinstance(exception, KeyboardInterrupt | SIGTERMException):
            trainer.save_checkpoint(self.path)
            self.saved = True
            if trainer.is_global_zero:
                print(f"\ninterrupted: training state saved to {self.path}; continue with --resume "
                      f"{self.path.parent.parent}", flush=True)
