"""End-to-end training on the embedded digits: outputs, exact resume, interruption, NaN, DDP, fine-tuning."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import lightning as L
import pytest
import torch
from safetensors.torch import load_file

from mlpvision.train import resolve_config, train
from mlpvision.train.module import NonFiniteLossError

# a few epochs of the digits recipe, with the augmentations that draw random numbers switched on
SHORT = dict(epochs=2, warmup_epochs=1, mixup=0.2, cutmix=0.2, aa="rand-m5-mstd0.5", reprob=0.25, drop_path=0.1,
             model_kwargs={"patch_size": 2, "depth": 2, "embed_dim": 32})


def _run(tmp_path: Path, name: str, callbacks=(), **overrides) -> dict:
    config = resolve_config({**SHORT, "out": str(tmp_path / name), **overrides})
    return train(config, callbacks=callbacks)


def test_default_run_writes_everything(tmp_path):
    results = _run(tmp_path, "run")
    run = tmp_path / "run"
    for name in ("config.yaml", "metrics.csv", "results.json", "curves.png", "checkpoints/best.safetensors",
                 "checkpoints/last.safetensors", "checkpoints/last.ckpt"):
        assert (run / name).is_file(), name
    assert list((run / "tensorboard").glob("events.out.tfevents.*"))
    saved = json.loads((run / "results.json").read_text())
    for key in ("model", "params", "epochs", "train_seconds", "val_top1", "test_top1", "test_top5", "bad_images"):
        assert key in saved
    assert saved == json.loads(json.dumps(results))
    assert saved["epochs"] == 2
    assert saved["params"] == sum(t.numel() for t in load_file(run / "checkpoints/last.safetensors").values())
    torch.load(run / "checkpoints/last.ckpt", weights_only=True)  # the resume state needs no unpickling of code


@pytest.mark.slow
def test_default_recipe_reaches_97_percent(tmp_path):
    """The README's promise: `mlpvision train` with no arguments reaches >= 97% test top-1 on digits."""
    results = train(resolve_config({"out": str(tmp_path / "default")}))
    assert results["test_top1"] >= 97.0
    assert results["model"] == "mlpv_mixer_s16"


class _InterruptAt(L.Callback):
    def __init__(self, epoch: int) -> None:
        self.epoch = epoch

    def on_train_epoch_start(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        if trainer.current_epoch == self.epoch:
            raise KeyboardInterrupt


def test_resume_gives_identical_weights(tmp_path):
    _run(tmp_path, "straight")
    with pytest.raises(SystemExit):  # Lightning exits after a KeyboardInterrupt, once the state is saved
        _run(tmp_path, "stopped", callbacks=[_InterruptAt(1)])
    assert not (tmp_path / "stopped/checkpoints/interrupted.ckpt").exists()  # last.ckpt already holds every step
    train(resolve_config({"resume": str(tmp_path / "stopped")}))
    straight = load_file(tmp_path / "straight/checkpoints/last.safetensors")
    resumed = load_file(tmp_path / "stopped/checkpoints/last.safetensors")
    assert straight.keys() == resumed.keys()
    for key in straight:
        assert torch.equal(straight[key], resumed[key]), key


class _InterruptAtBatch(L.Callback):
    def on_train_batch_start(self, trainer: L.Trainer, module: L.LightningModule, batch, batch_idx: int) -> None:
        if trainer.current_epoch == 1 and batch_idx == 5:
            raise KeyboardInterrupt


def test_mid_epoch_interrupt_saves_the_steps_and_resumes(tmp_path):
    with pytest.raises(SystemExit):
        _run(tmp_path, "mid", callbacks=[_InterruptAtBatch()])
    state = torch.load(tmp_path / "mid/checkpoints/interrupted.ckpt", weights_only=True)
    last = torch.load(tmp_path / "mid/checkpoints/last.ckpt", weights_only=True)
    assert state["global_step"] == last["global_step"] + 5
    results = train(resolve_config({"resume": str(tmp_path / "mid")}))
    assert results["epochs"] == 2
    epochs_logged = {line.split(",")[0] for line in (tmp_path / "mid/metrics.csv").read_text().splitlines()[1:]}
    assert {"0", "1"} <= epochs_logged  # the resumed run appends to the metrics of the first


class _PoisonWeights(L.Callback):
    def on_train_epoch_start(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        if trainer.current_epoch == 1:
            with torch.no_grad():
                next(module.model.parameters()).fill_(float("nan"))


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(tmp_path):
    with pytest.raises(NonFiniteLossError, match="loss became nan at epoch 1"):
        _run(tmp_path, "nan", callbacks=[_PoisonWeights()])
    kept = load_file(tmp_path / "nan/checkpoints/last.safetensors")
    assert all(torch.isfinite(t).all() for t in kept.values())
    assert not (tmp_path / "nan/checkpoints/interrupted.ckpt").exists()


def test_sigterm_saves_the_state_and_the_run_resumes(tmp_path):
    run = tmp_path / "term"
    command = [sys.executable, "-m", "mlpvision", "train", "--out", str(run), "--epochs", "200", "--model-kwargs",
               "patch_size=2", "depth=2", "embed_dim=32"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.time() + 120
    while not (run / "checkpoints/last.ckpt").exists() and time.time() < deadline:
        time.sleep(0.2)
    process.send_signal(signal.SIGTERM)
    output, _ = process.communicate(timeout=120)
    assert process.returncode != 0
    assert f"continue with --resume {run}" in output
    interrupted = run / "checkpoints/interrupted.ckpt"
    saved = interrupted if interrupted.exists() else run / "checkpoints/last.ckpt"
    assert torch.load(saved, weights_only=True)["epoch"] < 200


def test_finetune_from_another_resolution_and_classes(tmp_path):
    _run(tmp_path, "source")
    results = _run(tmp_path, "finetune", epochs=1, img_size=16,
                   init=str(tmp_path / "source/checkpoints/best.safetensors"))
    assert results["test_top1"] > 10.0  # trained from resampled weights at 16x16, and it runs


def test_ema_bf16_accumulation_and_clipping(tmp_path):
    results = _run(tmp_path, "options", model_ema=True, model_ema_decay=0.9, precision="bf16-mixed",
                   grad_accum_steps=2, clip_grad=1.0)
    weights = load_file(tmp_path / "options/checkpoints/last.safetensors")
    state = torch.load(tmp_path / "options/checkpoints/last.ckpt", weights_only=True)
    assert any(key.startswith("ema.") for key in state["state_dict"])
    for key, value in weights.items():  # the saved weights are the EMA's, the ones evaluated
        assert torch.equal(value, state["state_dict"][f"ema.module.{key}"]), key
    assert state["global_step"] == 2 * 10  # 19 batches an epoch, an optimiser step every 2 and at the last
    assert results["test_top1"] > 0


@pytest.mark.slow
def test_compile(tmp_path):
    results = _run(tmp_path, "compiled", compile=True, epochs=1)
    assert results["test_top1"] > 10.0


def test_timm_model_as_a_baseline(tmp_path):
    results = _run(tmp_path, "resnet", model="resnet10t", model_kwargs={}, epochs=1, img_size=16)
    assert results["model"] == "resnet10t"
    assert results["params"] > 1_000_000


@pytest.mark.slow
@pytest.mark.parametrize("aug_repeats", [1, 3])
def test_two_process_ddp_matches_one_process(tmp_path, aug_repeats):
    """2 CPU processes (gloo) with batch 16 each follow one process with batch 32: same batches, same weights.

    The crop is fixed (scale and ratio 1, no colour jitter) because each process draws its own augmentation, and the
    optimiser is SGD:
    Adam divides by the root of the squared gradients, which turns summation-order noise in near-zero gradients
    into updates of the size of the learning rate.
    """
    common = ["-m", "mlpvision", "train", "--epochs", "1", "--warmup-epochs", "0", "--model-kwargs", "patch_size=2",
              "depth=2", "embed_dim=32", "--accelerator", "cpu", "--opt", "sgd", "--lr", "0.05", "--scale", "1", "1",
              "--ratio", "1", "1", "--color-jitter", "0", "--aug-repeats", str(aug_repeats)]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("MLPVISION_RUN_DIR", None)
    subprocess.run([sys.executable, *common, "--out", str(tmp_path / "one"), "--batch-size", "32"], check=True,
                   env=env, capture_output=True)
    subprocess.run([sys.executable, *common, "--out", str(tmp_path / "ddp"), "--batch-size", "16", "--devices", "2",
                    "--strategy", "ddp"], check=True, env=env, capture_output=True)
    one = load_file(tmp_path / "one/checkpoints/last.safetensors")
    ddp = load_file(tmp_path / "ddp/checkpoints/last.safetensors")
    for key in one:
        torch.testing.assert_close(ddp[key], one[key], rtol=1e-4, atol=1e-5)
