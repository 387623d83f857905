"""`mlpvision evaluate` (and `analyze`) score a run on its own held-out images, by class name, at its (H, W).

One tiny non-square run (8x16 images, 3 classes, a folder without val/, --seed 7) is trained through the CLI and
shared by the tests of this file.
"""

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from mlpvision import trained as trained_module
from mlpvision.cli import main
from mlpvision.data import build_transforms, data_config, load_splits
from mlpvision.data.permute import FixedPermutation
from mlpvision.models import save_weights
from mlpvision.trained import load_model

from .conftest import tiny_model

CLASSES = {"blue": (40, 60, 200), "green": (40, 180, 60), "red": (210, 40, 40)}
TINY = ["--model-kwargs", "patch_size=2", "depth=1", "embed_dim=16"]


def _image_folder(root, classes, per_class=10, seed=0):
    rng = np.random.default_rng(seed)
    for name in classes:
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            pixels = np.clip(np.array(CLASSES[name]) + rng.normal(0, 25, (8, 16, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(root / name / f"{name}_{i}.png")
    return root


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A run trained on a folder without val/ with --seed 7 --val-split 0.3, at 8x16: (run folder, data folder)."""
    base = tmp_path_factory.mktemp("evaluate")
    data = _image_folder(base / "data", CLASSES)
    run = base / "run"
    argv = ["train", "--data", str(data), "--out", str(run), "--recipe", "digits", "--epochs", "2",
            "--batch-size", "4", "--seed", "7", "--val-split", "0.3", "--img-size", "8", "16", *TINY]
    assert main(argv) == 0
    return run, data


def _predictions(folder):
    with open(folder / "predictions.csv", newline="") as handle:
        return list(csv.DictReader(handle))


def _printed(capsys) -> str:
    """What the command printed, with rich's line wrapping undone."""
    return " ".join(capsys.readouterr().out.split())


def test_evaluate_scores_exactly_the_images_the_run_held_out(run, tmp_path, capsys):
    run_dir, data = run
    assert main(["evaluate", "--checkpoint", str(run_dir), "--out", str(tmp_path)]) == 0  # --data: the run's
    evaluated = {row["image"] for row in _predictions(tmp_path)}
    held_out = {str(path) for path in load_splits(str(data), 0.3, 7, "skip").val.items}
    default_split = {str(path) for path in load_splits(str(data), 0.1, 42, "skip").val.items}
    assert evaluated == held_out
    assert evaluated != default_split  # what evaluate scored before it read the run's config.yaml
    evaluation = json.loads((tmp_path / "evaluation.json").read_text())
    assert evaluation["images"] == len(held_out) == 9
    results = json.loads((run_dir / "results.json").read_text())
    assert evaluation["top1"] == pytest.approx(results["test_top1"], abs=1e-3)  # the trainer scored the same images
    assert "on val (9 images)" in capsys.readouterr().out


def test_classes_are_matched_by_name(run, tmp_path):
    run_dir, data = run
    assert main(["evaluate", "--checkpoint", str(run_dir), "--out", str(tmp_path / "all")]) == 0
    full = {row["image"].rsplit("/", 1)[-1]: row for row in _predictions(tmp_path / "all")}
    subset = tmp_path / "subset"  # two of the three classes: "green" and "red" are labels 0 and 1 here, 1 and 2 there
    for split in ("train", "test"):
        for name in ("green", "red"):
            shutil.copytree(data / name, subset / split / name)
    assert main(["evaluate", "--checkpoint", str(run_dir), "--data", str(subset),
                 "--out", str(tmp_path / "subset_eval")]) == 0
    rows = _predictions(tmp_path / "subset_eval")
    assert len(rows) == 20
    for row in rows:  # the same image gets the same predicted class name; a "blue" prediction is counted as "(other)"
        name = row["image"].rsplit("/", 1)[-1]
        assert row["label"] == name.split("_")[0]
        if name in full:
            expected = full[name]["predicted"]
            assert row["predicted"] == (expected if expected in ("green", "red") else "(other)")
    evaluation = json.loads((tmp_path / "subset_eval/evaluation.json").read_text())
    assert evaluation["classes"] == ["green", "red"]
    assert evaluation["predicted_classes"] == ["green", "red", "(other)"]
    correct = sum(row["label"] == row["predicted"] for row in rows)
    assert evaluation["top1"] == pytest.approx(100 * correct / len(rows), abs=1e-3)


@pytest.mark.parametrize(("make_data", "message"), [
    (lambda tmp: str(_image_folder(tmp / "zebra", ["blue", "red"]).parent / "zebra"), None),
    (lambda tmp: "digits", "has 10 class(es) that"),
])
def test_a_class_the_checkpoint_does_not_know_is_one_line(run, tmp_path, capsys, make_data, message):
    run_dir, _ = run
    data = make_data(tmp_path)
    if message is None:  # rename one class folder: the checkpoint knows blue, green and red
        (tmp_path / "zebra/red").rename(tmp_path / "zebra/zebra")
        message = "has 1 class(es) that"
    assert main(["evaluate", "--checkpoint", str(run_dir), "--data", data, "--out", str(tmp_path / "e")]) == 2
    err = capsys.readouterr().err
    assert message in err
    assert "it knows 3: blue, green, red" in err
    assert err.count("\n") == 1
    if data != "digits":
        assert "zebra" in err


def test_an_unnamed_head_smaller_than_the_data_is_one_line(tmp_path, capsys):
    weights = tmp_path / "three.safetensors"
    kwargs = {"depth": 2, "embed_dim": 32}
    save_weights(tiny_model("mlpv_mixer_s16", num_classes=3, **kwargs), weights,
                 {"model_kwargs": json.dumps(kwargs)})  # no class names in its metadata
    assert main(["evaluate", "--checkpoint", str(weights), "--data", "digits", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "has 10 classes but the model has 3 outputs" in err
    assert err.count("\n") == 1


def test_non_square_run_keeps_its_height_and_width_in_every_command(run, tmp_path, capsys):
    import onnx

    run_dir, _ = run
    assert main(["export", "--checkpoint", str(run_dir), "-o", str(tmp_path / "m.onnx")]) == 0
    graph = onnx.load(str(tmp_path / "m.onnx")).graph
    assert [d.dim_value for d in graph.input[0].type.tensor_type.shape.dim] == [1, 3, 8, 16]
    assert [d.dim_value for d in graph.output[0].type.tensor_type.shape.dim] == [1, 3]
    assert main(["analyze", "weights", "--checkpoint", str(run_dir), "--out", str(tmp_path)]) == 0  # a 4x8 grid
    assert main(["analyze", "robustness", "--checkpoint", str(run_dir), "--out", str(tmp_path)]) == 0
    assert "(9 images)" in _printed(capsys)  # the table's title wraps at the table's width
    converted = tmp_path / "c.safetensors"
    assert main(["convert", str(run_dir / "checkpoints/best.safetensors"), "-o", str(converted)]) == 0
    assert "at 8x16, 3 classes, named" in capsys.readouterr().out
    assert main(["evaluate", "--checkpoint", str(converted), "--data", str(run[1]), "--val-split", "0.3",
                 "--seed", "7", "--out", str(tmp_path / "c")]) == 0
    assert main(["evaluate", "--checkpoint", str(run_dir), "--out", str(tmp_path / "r")]) == 0
    assert _predictions(tmp_path / "c") == _predictions(tmp_path / "r")


def test_evaluate_at_another_height_and_width(run, tmp_path):
    run_dir, _ = run
    assert main(["evaluate", "--checkpoint", str(run_dir), "--img-size", "16", "32", "--out", str(tmp_path)]) == 0
    assert json.loads((tmp_path / "evaluation.json").read_text())["images"] == 9


@pytest.mark.parametrize(("argv", "message"), [
    (["--batch-size", "0"], "--batch-size must be at least 1, got 0"),
    (["--img-size", "0"], "--img-size takes one side or a height and a width, each at least 1, got 0"),
    (["--img-size", "8", "16", "4"], "--img-size takes one side or a height and a width"),
    (["--val-split", "nan"], "--val-split must be in (0, 1), got nan"),
    (["--val-split", "1"], "--val-split must be in (0, 1), got 1.0"),
    (["--checkpoint", "/no/such/run"], "--checkpoint /no/such/run: no such file or run folder"),
    (["--checkpoint", "{tmp}"], "a folder without checkpoints/best.safetensors"),
    (["--checkpoint", "{run}", "--data", "{file}"], "data folder not found"),
    (["--checkpoint", "{run}", "--out", "{file}"], "a file, not a folder"),
    (["--checkpoint", "{run}", "--json", "{tmp}"], "a folder, not a file"),
    (["--checkpoint", "{bad_config}"], "config.yaml: not a readable run configuration"),
])
def test_bad_evaluate_values_are_one_line(run, tmp_path, capsys, argv, message):
    (tmp_path / "file.txt").write_text("not a folder")
    bad_config = tmp_path / "bad_run"
    shutil.copytree(run[0] / "checkpoints", bad_config / "checkpoints")
    (bad_config / "config.yaml").write_text("seed: [unclosed\n")
    values = {"tmp": str(tmp_path), "run": str(run[0]), "file": str(tmp_path / "file.txt"),
              "bad_config": str(bad_config)}
    argv = [arg.format(**values) for arg in argv]
    checkpoint = [] if "--checkpoint" in argv else ["--checkpoint", str(run[0])]
    out = [] if "--out" in argv else ["--out", str(tmp_path / "e")]
    assert main(["evaluate", *checkpoint, *argv, *out]) == 2
    err = capsys.readouterr().err
    assert message in err
    assert err.count("\n") == 1


def test_analyze_bad_values_are_one_line(run, tmp_path, capsys):
    (tmp_path / "file.txt").write_text("")
    for argv, message in (
            (["weights", "--max-filters", "0"], "--max-filters must be at least 1, got 0"),
            (["weights", "--block", "-1"], "--block must be in [0, 0], got -1"),
            (["weights", "--out", str(tmp_path / "file.txt")], "a file, not a folder"),
            (["robustness", "--data", "digits"], "has 10 class(es) that"),
    ):
        out = [] if "--out" in argv else ["--out", str(tmp_path / "a")]
        assert main(["analyze", *argv, "--checkpoint", str(run[0]), *out]) == 2
        err = capsys.readouterr().err
        assert message in err
        assert err.count("\n") == 1


def test_unreadable_held_out_images_are_left_out_and_named(run, tmp_path, capsys, caplog, monkeypatch):
    run_dir, data = run
    copy = tmp_path / "data"
    shutil.copytree(data, copy)
    held_out = [str(path) for path in load_splits(str(copy), 0.3, 7, "skip").val.items]
    assert main(["evaluate", "--checkpoint", str(run_dir), "--data", str(copy), "--out", str(tmp_path / "whole")]) == 0
    whole = {row["image"]: row for row in _predictions(tmp_path / "whole")}
    truncated, bomb = held_out[1], held_out[4]
    Path(truncated).write_bytes(Path(truncated).read_bytes()[:40])  # a PNG cut off inside its header
    Image.new("RGB", (64, 64)).save(bomb)  # 4096 pixels: a decompression bomb under the limit set here
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    capsys.readouterr()
    assert main(["evaluate", "--checkpoint", str(run_dir), "--data", str(copy), "--out", str(tmp_path / "e")]) == 0
    assert "on val (7 images; 2 unreadable files left out, named in bad_images)" in _printed(capsys)
    assert f"skipping unreadable image {truncated}: cannot identify image file" in caplog.text
    assert f"skipping unreadable image {bomb}: Image size (4096 pixels) exceeds limit" in caplog.text
    evaluation = json.loads((tmp_path / "e/evaluation.json").read_text())
    assert evaluation["bad_images"] == [truncated, bomb]
    assert evaluation["images"] == sum(evaluation["per_class_count"]) == 7
    rows = _predictions(tmp_path / "e")
    assert [row["image"] for row in rows] == [path for path in held_out if path not in (truncated, bomb)]
    for row in rows:  # each row still names the file its label and prediction belong to
        assert row == whole[row["image"]]
    assert main(["analyze", "robustness", "--checkpoint", str(run_dir), "--data", str(copy),
                 "--out", str(tmp_path / "a")]) == 0
    assert "under input corruptions (7 images)" in _printed(capsys)
    assert f"left out 2 unreadable val image(s) of 9: {truncated}, {bomb}" in caplog.text


def test_a_permuted_run_is_evaluated_on_its_permuted_images(tmp_path, capsys, monkeypatch):
    data = _image_folder(tmp_path / "data", CLASSES)
    run_dir = tmp_path / "run"
    assert main(["train", "--data", str(data), "--out", str(run_dir), "--recipe", "digits", "--epochs", "1",
                 "--batch-size", "4", "--seed", "7", "--val-split", "0.3", "--img-size", "8", "16", *TINY,
                 "--permute", "pixel"]) == 0
    fed: list[torch.Tensor] = []  # what each command gives the model

    def recording(*args, **kwargs):
        trained = load_model(*args, **kwargs)
        trained.model.register_forward_pre_hook(lambda _, inputs: fed.append(inputs[0].clone()))
        return trained

    monkeypatch.setattr(trained_module, "load_model", recording)
    assert main(["evaluate", "--checkpoint", str(run_dir), "--out", str(tmp_path / "e")]) == 0
    evaluation = json.loads((tmp_path / "e/evaluation.json").read_text())
    results = json.loads((run_dir / "results.json").read_text())
    assert evaluation["top1"] == pytest.approx(results["test_top1"], abs=1e-3)
    # the run's test images, made by hand: timm's eval transform at 8x16, then the pixel shuffle drawn from --seed 7
    model = load_model(str(run_dir), None).model
    _, plain = build_transforms(data_config(model, (8, 16)), {})
    held_out = load_splits(str(data), 0.3, 7, "skip").val.items
    expected = FixedPermutation("pixel", 8, 16, seed=7)(torch.stack([plain(Image.open(path).convert("RGB"))
                                                                     for path in held_out]))
    assert torch.equal(torch.cat(fed), expected)
    fed.clear()
    assert main(["analyze", "robustness", "--checkpoint", str(run_dir), "--out", str(tmp_path / "a")]) == 0
    assert torch.equal(fed[0], expected)  # its "original" condition: the images the run was tested on
    original = json.loads((tmp_path / "a/robustness.json").read_text())[0]
    assert original["name"] == "original"
    assert original["top1"] == pytest.approx(results["test_top1"], abs=1e-3)
    capsys.readouterr()
    assert main(["evaluate", "--checkpoint", str(run_dir), "--img-size", "16", "32", "--out", str(tmp_path / "x")]) == 2
    assert "was trained with --permute pixel at 8x16, and its permutation exists only at that size" in \
        capsys.readouterr().err
