"""Checkpoints that survive a crash mid-write and load without executing code.

* ``AtomicCheckpointIO``: Lightning's training state (``last.ckpt``) written to a temporary file, fsynced and
  renamed over the old one; read back with ``torch.load(weights_only=True)``.
* ``RunCheckpoints``: after every validation, that state (``last.ckpt``) and the model's weights as safetensors
  (``last.safetensors``, and ``best.safetensors`` at the best validation top-1); on Ctrl-C or SIGTERM, the state to
  ``interrupted.ckpt``. A non-finite loss saves nothing, so the last good checkpoint stays.
* ``RunFolder``: a run folder belongs to one run. A lock held while a run lives (released by the kernel when its
  process dies, however it dies), no second run started over a first, and no temporaries left by a killed write.

Resuming from ``last.ckpt`` (an epoch boundary) or from ``interrupted.ckpt`` (mid-epoch: the training loader starts
after the batches the loop completed, see ``data/datamodule.py``) repeats the uninterrupted run exactly; with
``--grad-accum-steps`` > 1 only when interrupted at an optimiser step (gradients accumulated since are not saved).
"""

import errno
import os
import pickle
import shutil
import tempfile
from pathlib import Path
from typing import Any

import filelock
import lightning as L
import torch
from lightning.pytorch.plugins.io import TorchCheckpointIO
from lightning.pytorch.utilities.exceptions import SIGTERMException

from ..models import save_weights

# what `mlpvision train` writes into a run folder (and `evaluate` into RUN/eval): the files --overwrite deletes
RUN_FILES = ("config.yaml", "hparams.yaml", "metrics.csv", "metrics.part*.csv", "results.json", "curves.png",
             "checkpoints", "tensorboard", "eval")
LOCK_NAME = ".lock"


class CheckpointWriteError(OSError):
    """A checkpoint could not be written (most often: the disk is full); the previous one is kept."""


class CheckpointReadError(ValueError):
    """A training state that cannot be read back (truncated, damaged, or not a checkpoint)."""


def write_failure(path: Path, error: BaseException) -> CheckpointWriteError:
    """One line for a failed write of ``path``: what happened and that the previous file is still there."""
    full = getattr(error, "errno", None) == errno.ENOSPC or "No space left" in str(error)
    reason = "the disk is full" if full else f"{type(error).__name__}: {str(error).splitlines()[0]}"
    kept = f"the previous {path.name} is kept" if path.exists() else f"no {path.name} was written"
    run = path.parent.parent
    return CheckpointWriteError(f"could not write {path} ({reason}); {kept} and no temporary file is left: "
                                f"free space and continue with --resume {run}")


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
        except OSError as error:
            raise write_failure(path, error) from error
        finally:
            if os.path.exists(tmp_name):
                os.unlink(tmp_name)

    def load_checkpoint(self, path: str | Path, map_location: Any = None, weights_only: bool | None = None) -> Any:
        return read_state(Path(path), map_location=map_location or "cpu")


def read_state(path: Path, map_location: Any = "cpu", mmap: bool = False) -> dict[str, Any]:
    """A training state, read without executing code; ``CheckpointReadError`` (one line) when it cannot be."""
    try:
        return torch.load(path, map_location=map_location, weights_only=True, mmap=mmap)
    except pickle.UnpicklingError:
        # torch's own text suggests weights_only=False, which would run whatever the file holds: never do that
        reason = "it holds objects that only executing code could rebuild, which mlpvision never does"
    except FileNotFoundError:
        raise
    except (RuntimeError, EOFError, KeyError, ValueError, OSError) as error:
        reason = "empty" if path.stat().st_size == 0 else f"truncated or damaged: {str(error).splitlines()[0]}"
    raise CheckpointReadError(
        f"{path} cannot be read as a training state ({reason}); its weights may still be in last.safetensors or "
        f"best.safetensors next to it: start a new run from them with --init")


def completed_epochs(state: dict[str, Any]) -> int:
    """Epochs a training state has finished: ``last.ckpt`` is written after the last batch of its epoch (which
    Lightning counts as completed only once the epoch's hooks have run); a mid-epoch state has not finished its."""
    loop = state["loops"]["fit_loop"]
    return loop["epoch_progress"]["current"]["completed"] + int(loop["epoch_loop.batch_progress"]["is_last_batch"])


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
            self._save_weights(module, "last.safetensors")
            if improved:
                self._save_weights(module, "best.safetensors")
        self.saved_step = trainer.global_step
        trainer.save_checkpoint(self.folder / "last.ckpt", weights_only=False)

    def _save_weights(self, module: L.LightningModule, name: str) -> None:
        try:
            save_weights(module.eval_model, self.folder / name, self.metadata)
        except Exception as error:  # safetensors reports a full disk as its own error type, not as OSError
            if isinstance(error, OSError) or "No space left" in str(error) or "os error 28" in str(error):
                raise write_failure(self.folder / name, error) from error
            raise

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


class RunFolder:
    """Hold a run folder for one run: lock it, refuse a folder that holds another run, remove stale temporaries.

    ``filelock`` takes an ``flock`` on ``RUN/.lock``: the kernel drops it when the process ends, however it ends, so
    a killed run never leaves its folder locked (the empty ``.lock`` file itself stays and means nothing).
    """

    def __init__(self, path: Path, resume: bool, overwrite: bool) -> None:
        self.path = path
        self.resume = resume
        self.overwrite = overwrite
        self.lock = filelock.FileLock(path / LOCK_NAME, timeout=0)

    def __enter__(self) -> "RunFolder":
        self.path.mkdir(parents=True, exist_ok=True)
        try:
            self.lock.acquire()
        except filelock.Timeout:
            raise ValueError(f"{self.path} is in use by another running `mlpvision train` (it holds "
                             f"{self.path / LOCK_NAME}); wait for it to end, or give another --out") from None
        try:
            self._check_contents()
            for stale in (self.path / "checkpoints").glob(".*.tmp"):  # a write cut short by a kill
                stale.unlink()
        except BaseException:
            self.lock.release()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.lock.release()

    def _check_contents(self) -> None:
        if self.resume:
            return
        present = sorted(entry.name for entry in self.path.iterdir() if entry.name != LOCK_NAME)
        if not present:
            return
        ours = {entry.name for pattern in RUN_FILES for entry in self.path.glob(pattern)}
        if not (self.path / "config.yaml").is_file():
            shown = ", ".join(present[:3]) + (", ..." if len(present) > 3 else "")
            raise ValueError(f"--out {self.path} is not empty ({shown}) and holds no run; give a new or empty folder")
        if not self.overwrite:
            raise ValueError(f"--out {self.path} already holds a run; continue it with --resume {self.path}, start "
                             f"over in it with --overwrite (deletes that run), or give another --out")
        others = [name for name in present if name not in ours]
        if others:
            raise ValueError(f"--overwrite {self.path}: the folder also holds files no run writes "
                             f"({', '.join(others)}); nothing was deleted; move them, or give another --out")
        for name in ours:
            target = self.path / name
            shutil.rmtree(target) if target.is_dir() else target.unlink()
