"""`mlpvision train` and `mlpvision evaluate` from the command line: bad input is one line and exit status 2."""

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mlpvision.cli import main
from mlpvision.models import save_weights

from .conftest import tiny_model

TINY = ["--model-kwargs", "patch_size=2", "depth=2", "embed_dim=32"]


@pytest.mark.parametrize(("argv", "message"), [
    (["--lr", "0"], "--lr must be a positive number"),
    (["--lr", "-1"], "--lr must be a positive number"),
    (["--batch-size", "0"], "--batch-size must be at least 1"),
    (["--model", "mlpv_mixr_b16"], "unknown model 'mlpv_mixr_b16'; did you mean mlpv_mixer_b16"),
    (["--data", "/no/such/folder"], "no such folder"),
    (["--data", "cifar10:/no/where"], "cifar10 not found under /no/where"),
    (["--recipe", "imagenet-22k"], "unknown --recipe"),
    (["--bad-images", "ignore"], "--bad-images must be 'skip' or 'error'"),
    (["--model-kwargs", "depth"], "expected key=value"),
    (["--resume", "/no/run"], "not a run folder"),
])
def test_bad_values_are_one_line_and_exit_2(argv, message, capsys, tmp_path):
    assert main(["train", "--out", str(tmp_path / "run"), *argv]) == 2
    err = capsys.readouterr().err
    assert message in err
    assert err.count("\n") == 1
    assert "Traceback" not in err


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
