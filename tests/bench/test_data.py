"""`mlpvision bench --data`: the training loader's images/s beside the model's, through the command line."""

import json

from mlpvision.bench.data import loader_images_per_sec
from mlpvision.cli import main


def test_bench_data_reports_loader_and_model_rates(tmp_path, capsys):
    out = tmp_path / "rows.json"
    argv = ["bench", "--data", "digits", "--model", "mlpv_mixer_s16", "--batches", "2", "--repeats", "1"]
    assert main([*argv, "--workers", "1", "--json", str(out)]) == 0
    (row,) = json.loads(out.read_text())
    assert (row["model"], row["data"], row["batch_size"], row["img_size"], row["workers"]) == (
        "mlpv_mixer_s16", "digits", 64, 8, 1)  # the digits recipe's batch and size, the given workers
    assert row["loader_img_s"] > 0
    assert row["model_train_img_s"] > 0
    assert row["bound"] == ("loader" if row["loader_img_s"] < row["model_train_img_s"] else "model")
    assert "training loader vs model" in capsys.readouterr().out
    assert main(["bench", "--data", "digits"]) == 2
    assert "--data needs the model to train on it: --model NAME" in capsys.readouterr().err


def test_loader_rate_counts_the_images_after_the_first_batch():
    batches = [([0] * 4, None)] * 5
    rate, images = loader_images_per_sec(batches, batches=10)
    assert images == 16
    assert rate > 0
