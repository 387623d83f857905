"""`mlpvision train` and `mlpvision evaluate` from the command line: bad input is one line and exit status 2."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

from mlpvision.cli import main
from mlpvision.models import save_weights
from mlpvision.train import RECIPES, TrainConfig

from .conftest import tiny_model

TINY = ["--model-kwargs", "patch_size=2", "depth=2", "embed_dim=32"]


@pytest.mark.parametrize(("argv", "message"), [
    (["--lr", "0"], "--lr must be a finite number > 0, got 0.0"),
    (["--lr", "-1"], "--lr must be a finite number > 0, got -1.0"),
    (["--batch-size", "0"], "--batch-size must be a finite number ≥ 1, got 0"),
    (["--model", "mlpv_mixr_b16"], "unknown model 'mlpv_mixr_b16'; did you mean mlpv_mixer_b16"),
    (["--data", "/no/such/folder"], "no such folder"),
    (["--data", "cifar10:/no/where"], "cifar10 not found under /no/where"),
    (["--recipe", "imagenet-22k"], "unknown --recipe"),
    (["--bad-images", "ignore"], "--bad-images 'ignore' is not one of skip, error"),
    (["--model-kwargs", "depth"], "argument --model-kwargs: expected key=value, got 'depth'"),
    (["--resume", "/no/run"], "not a run folder"),
    # the values a hostile user tried (issue 12): each was accepted or ended in a traceback
    (["--warmup-lr", "-1"], "--warmup-lr must be a finite number ≥ 0, got -1.0"),
    (["--img-size", "0"], "--img-size must be at least 1, got 0"),
    (["--img-size", "abc"], "argument --img-size: expected an integer, got 'abc'"),
    (["--scale", "1", "0"], "--scale takes MIN MAX with 0 < MIN ≤ MAX ≤ 1, got 1 0"),
    (["--model-ema-decay", "2"], "--model-ema-decay must be a finite number in [0, 1), got 2.0"),
    (["--model-kwargs", "depth=0"], "--model-kwargs depth=0: must be at least 1"),
    (["--model-kwargs", "embed_dim=0"], "--model-kwargs embed_dim=0: must be at least 1"),
    (["--model-kwargs", "depth=abc"], "--model-kwargs depth=abc: mlpv_mixer_s16 expects an integer"),
    (["--model-kwargs", "foo=1"], "--model-kwargs foo=1: mlpv_mixer_s16 takes no 'foo'"),
    (["--model-kwargs", "patch_size=3"], "img_size (8, 8) must be a positive multiple of the total stride 3"),
    (["--model-kwargs", "num_classes=3"], "the head's size comes from the data's classes"),
    (["--model-kwargs", "img_size=16", "--img-size", "8"], "img_size=16 and --img-size 8 disagree"),
    (["--drop-path", "-0.1"], "--drop-path must be a finite number in [0, 1), got -0.1"),
    (["--drop-path", "nan"], "--drop-path must be a finite number in [0, 1), got nan"),
    (["--drop-path", "1.5"], "--drop-path must be a finite number in [0, 1), got 1.5"),
    (["--mixup", "-1"], "--mixup must be a finite number ≥ 0, got -1.0"),
    (["--mixup", "nan"], "--mixup must be a finite number ≥ 0, got nan"),
    (["--min-lr", "nan"], "--min-lr must be a finite number ≥ 0, got nan"),
    (["--min-lr", "-1"], "--min-lr must be a finite number ≥ 0, got -1.0"),
    (["--clip-grad", "nan"], "--clip-grad must be a finite number > 0, got nan"),
    (["--clip-grad", "-1"], "--clip-grad must be a finite number > 0, got -1.0"),
    (["--aa", "bogus"], "--aa 'bogus' is not a timm auto-augment policy (Unknown AA policy bogus)"),
    (["--accelerator", "tpu"], "--accelerator tpu: this machine has none; use --accelerator auto or cpu"),
    (["--accelerator", "xpu"], "--accelerator 'xpu' is not one of auto, gpu, cpu, cuda, mps, tpu"),
    (["--epochs", "2.5"], "argument --epochs: expected an integer, got '2.5'"),
    (["--sched", "cosin"], "--sched 'cosin' is not one of cosine, tanh, step, multistep, poly (did you mean 'cosin"),
    (["--opt", "adamz"], "--opt 'adamz' is not in timm.optim.list_optimizers() (did you mean 'adam'?)"),
    (["--model-ema", "false"], "unrecognized arguments: false (a boolean flag takes no value"),
    (["--no-such-flag", "1"], "unrecognized arguments: --no-such-flag 1"),
    (["--config", "/no/such.yaml"], "--config: File does not exist: '/no/such.yaml'"),
])
def test_bad_values_are_one_line_and_exit_2(argv, message, capsys, tmp_path):
    assert main(["train", "--out", str(tmp_path / "run"), *argv]) == 2
    err = capsys.readouterr().err
    assert message in err
    assert err.count("\n") == 1
    assert "Traceback" not in err
    assert not (tmp_path / "run" / "config.yaml").exists()  # refused before anything was written


def test_out_naming_a_file(capsys, tmp_path):
    (tmp_path / "file").write_text("mine")
    assert main(["train", "--out", str(tmp_path / "file")]) == 2
    assert f"--out {tmp_path / 'file'} is a file; give a folder" in capsys.readouterr().err
    assert (tmp_path / "file").read_text() == "mine"


@pytest.fixture
def trained(monkeypatch):
    """The configuration `mlpvision train` hands to train(), without training."""
    seen = []
    monkeypatch.setattr("mlpvision.train.train", lambda config: seen.append(config))
    return seen


def test_every_flag_type_reaches_the_configuration(trained, tmp_path):
    argv = ["train", "--out", str(tmp_path / "run"),
            "--epochs", "3",  # int
            "--lr-base", "0.001",  # float
            "--clip-grad", "1.5",  # optional float
            "--opt", "sgd",  # str
            "--aa", "rand-m5-mstd0.5",  # optional str
            "--model-ema", "--no-compile",  # bool, both ways
            "--scale", "0.5", "1",  # tuple pair
            "--model-kwargs", "depth=2", "embed_dim=32",  # dict of KEY=VALUE
            ]
    assert main(argv) == 0
    config = trained[0]
    assert (config.epochs, config.lr_base, config.clip_grad, config.opt, config.aa) == (
        3, 0.001, 1.5, "sgd", "rand-m5-mstd0.5")
    assert config.model_ema is True
    assert config.compile is False
    assert config.scale == (0.5, 1.0)
    # keyword by keyword over the digits recipe's, which keeps its patch size
    assert config.model_kwargs == {"patch_size": 2, "depth": 2, "embed_dim": 32}
    assert type(config.epochs) is int
    assert type(config.lr_base) is float
    # not given: the recipe's value, else the dataclass default
    assert config.batch_size == RECIPES["digits"]["batch_size"]
    assert config.weight_decay == TrainConfig.weight_decay


def test_none_and_no_flags_turn_settings_off(trained, tmp_path):
    assert main(["train", "--out", str(tmp_path / "run"), "--recipe", "small", "--aa", "none", "--clip-grad", "none",
                 "--drop-path", "null", "--no-model-ema", "--compile"]) == 0
    config = trained[0]
    assert (config.aa, config.clip_grad, config.drop_path, config.model_ema, config.compile) == (
        None, None, None, False, True)


def test_precedence_flag_over_recipe_over_default(trained, tmp_path):
    assert main(["train", "--out", str(tmp_path / "a"), "--lr", "0.01"]) == 0
    assert main(["train", "--out", str(tmp_path / "b")]) == 0
    flagged, recipe = trained
    assert flagged.lr == 0.01
    assert recipe.lr == RECIPES["digits"]["lr"]
    assert recipe.opt == TrainConfig.opt


def test_model_kwargs_img_size_is_not_overridden_by_the_recipe(trained, tmp_path):
    assert main(["train", "--out", str(tmp_path / "run"), "--model-kwargs", "img_size=16"]) == 0
    config = trained[0]
    assert config.img_size == 16  # the digits recipe says 8; the explicit keyword wins
    assert "img_size" not in config.model_kwargs


def test_config_file_then_flags(trained, tmp_path):
    settings = {"epochs": 4, "scale": [0.5, 0.9], "model_kwargs": {"depth": 3}, "model_ema": True, "lr": 0.002}
    (tmp_path / "settings.yaml").write_text(yaml.safe_dump(settings))
    assert main(["train", "--config", str(tmp_path / "settings.yaml"), "--lr", "0.004",
                 "--out", str(tmp_path / "run")]) == 0
    config = trained[0]
    assert (config.epochs, config.scale, config.model_ema, config.lr) == (4, (0.5, 0.9), True, 0.004)
    assert config.model_kwargs["depth"] == 3


def test_bad_value_in_a_config_file_is_one_line(capsys, tmp_path):
    (tmp_path / "settings.yaml").write_text("epochs: many\n")
    assert main(["train", "--config", str(tmp_path / "settings.yaml"), "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "epochs" in err


def test_a_bad_flag_from_the_console_script(tmp_path):
    """The entry point a user runs: a boolean given a value, and the help, in a real process."""
    command = [sys.executable, "-m", "mlpvision", "train", "--out", str(tmp_path / "run"), "--compile", "false"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == (
        "mlpvision train: error: unrecognized arguments: false (a boolean flag takes no value: --model-ema or "
        "--no-model-ema)")
    helped = subprocess.run([*command[:4], "--help"], capture_output=True, text=True, timeout=300)
    assert helped.returncode == 0
    assert "--model-ema, --no-model-ema" in helped.stdout
    assert "--config CONFIG" in helped.stdout


def test_checkpoint_of_another_architecture_for_init(capsys, tmp_path):
    save_weights(tiny_model("mlpv_gmlp_s16"), tmp_path / "gmlp.safetensors")
    assert main(["train", "--out", str(tmp_path / "run"), *TINY, "--init", str(tmp_path / "gmlp.safetensors")]) == 2
    err = capsys.readouterr().err
    assert "holds weights of mlpv_gmlp_s16, not mlpv_mixer_s16" in err
    assert err.count("\n") == 1


def test_empty_class_folder_and_single_class(capsys, tmp_path):
    for name, count in (("a", 2), ("b", 0)):
        (tmp_path / "data" / name).mkdir(parents=True)
        for i in range(count):
            Image.fromarray(np.zeros((8, 8, 3), dtype=np.uint8)).save(tmp_path / "data" / name / f"{i}.png")
    assert main(["train", "--data", str(tmp_path / "data"), "--out", str(tmp_path / "run")]) == 2
    assert "has no images" in capsys.readouterr().err
    (tmp_path / "data" / "b").rmdir()
    assert main(["train", "--data", str(tmp_path / "data"), "--out", str(tmp_path / "run")]) == 2
    assert "classification needs at least 2" in capsys.readouterr().err


def test_train_on_a_folder_with_a_corrupt_file_then_evaluate(capsys, tmp_path):
    rng = np.random.default_rng(0)
    data = tmp_path / "data"
    for split, count in (("train", 12), ("val", 4)):
        for name in ("dark", "light"):
            (data / split / name).mkdir(parents=True)
            for i in range(count):
                base = 40 if name == "dark" else 200
                pixels = np.clip(base + rng.normal(0, 20, (8, 8, 3)), 0, 255).astype(np.uint8)
                Image.fromarray(pixels).save(data / split / name / f"{i}.png")
    (data / "train/dark/broken.jpg").write_bytes(b"\xff\xd8\xff garbage")
    run = tmp_path / "run"
    argv = ["train", "--data", str(data), "--out", str(run), "--recipe", "digits", "--epochs", "3",
            "--batch-size", "8", *TINY]
    assert main(argv) == 0
    results = json.loads((run / "results.json").read_text())
    assert results["bad_images"] == 1
    assert results["bad_image_paths"][0].endswith("broken.jpg")
    assert results["test_split"] == "val"
    capsys.readouterr()
    assert main(["evaluate", "--checkpoint", str(run), "--data", str(data), "--json", str(tmp_path / "e.json")]) == 0
    evaluation = json.loads((tmp_path / "e.json").read_text())
    assert evaluation["images"] == 8
    assert evaluation["top1"] == results["test_top1"]
    assert sum(map(sum, evaluation["confusion"])) == 8
    assert Path(run / "eval" / "confusion.png").is_file()
    assert "light" in capsys.readouterr().out


def test_evaluate_needs_a_model_or_checkpoint(capsys):
    assert main(["evaluate"]) == 2
    assert "give --checkpoint PATH or --model NAME" in capsys.readouterr().err
