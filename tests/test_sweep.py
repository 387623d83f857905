"""`mlpvision sweep` end to end on the digits: a grid of ordinary runs, its summary, its resume after an
interruption, a failing point that does not stop the others, and bad input as one line."""

import csv
import json

import lightning as L
import pytest
import yaml

from mlpvision.cli import main
from mlpvision.sweep import load_spec, run_sweep

TINY = ["--model-kwargs", "patch_size=2", "depth=2", "embed_dim=32"]


class _CtrlC(L.Callback):
    """Ctrl-C as Lightning meets it: a KeyboardInterrupt in the middle of the first run's epoch."""

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
        if trainer.global_step == 5:
            raise KeyboardInterrupt


def test_a_sweep_interrupted_then_continued_gives_every_run_and_the_summary(tmp_path, capsys):
    out = tmp_path / "sweep"
    argv = ["sweep", "--models", "mlpv_mixer_s16", "mlpv_resmlp_12", *TINY, "--seeds", "0", "1", "--set", "epochs=1",
            "--out", str(out)]
    assert main([*argv, "--summarize-only"]) == 0  # nothing has run yet: a summary of no runs
    spec = load_spec(out / "sweep.yaml")
    with pytest.raises(SystemExit):  # Lightning exits once the interrupted run's state is saved
        run_sweep(spec, callbacks=[_CtrlC()])
    first = out / "runs/mlpv_mixer_s16/seed0"
    assert (first / "checkpoints/interrupted.ckpt").is_file()
    assert not (first / "results.json").exists()

    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "mlpv_mixer_s16 seed 0: resume →" in printed
    record = json.loads((first / "sweep_point.json").read_text())
    assert [attempt["outcome"] for attempt in record["attempts"]] == ["interrupted", "resumed"]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["finished_runs"] == summary["planned_runs"] == 4
    assert not summary["failed"]
    for config in summary["configs"]:
        assert config["n"] == 2
        assert config["seeds"] == [0, 1]
        assert config["test_top1"]["std"] is not None
        assert config["params"] > 0
        assert config["gmacs"] > 0
        assert config["images_per_s"]["mean"] > 0
    runs = {(run["config"], run["seed"]): run for run in summary["runs"]}
    for (name, seed), run in runs.items():
        results = json.loads((out / f"runs/{name}/seed{seed}/results.json").read_text())
        assert run["test_top1"] == results["test_top1"]  # each grid point is an ordinary run folder
    with open(out / "summary.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [row["config"] for row in rows] == ["mlpv_mixer_s16", "mlpv_resmlp_12"]
    assert float(rows[0]["test_top1_mean"]) == pytest.approx(summary["configs"][0]["test_top1"]["mean"])
    assert (out / "accuracy_vs_params.png").stat().st_size > 1000
    assert (out / "accuracy_vs_time.png").stat().st_size > 1000

    finished = {path: path.stat().st_mtime_ns for path in out.glob("runs/*/*/results.json")}
    assert main(argv) == 0  # a finished sweep trains nothing again
    assert printed.count("already done") == 0
    assert capsys.readouterr().out.count("already done") == 4
    assert {path: path.stat().st_mtime_ns for path in out.glob("runs/*/*/results.json")} == finished


def test_a_failing_point_is_reported_and_the_sweep_goes_on(tmp_path, capsys):
    config = tmp_path / "sweep.yaml"
    config.write_text(yaml.safe_dump({
        "out": str(tmp_path / "sweep"), "seeds": [0], "set": {"epochs": 1},
        "models": [
            # valid settings that fail only once training starts: more images a batch than the digits have
            {"label": "broken", "model": "mlpv_mixer_s16", "set": {"batch_size": 5000},
             "model_kwargs": {"patch_size": 2, "depth": 2, "embed_dim": 32}},
            {"label": "pixel-permuted", "model": "mlpv_mixer_s16", "set": {"permute": "pixel"},
             "model_kwargs": {"patch_size": 2, "depth": 2, "embed_dim": 32}},
        ],
        "study": {"title": "digits check", "scale": "the digits, 1 epoch", "commands": ["mlpvision sweep ..."],
                  "sections": [{"id": "x", "title": "x. permuted against broken", "source": "none", "claim": "c",
                                "configs": ["pixel-permuted", "broken"],
                                "claims": [{"text": "permuted beats broken", "a": "pixel-permuted", "b": "broken",
                                            "expect": "higher"}]}]},
    }))
    assert main(["sweep", "--config", str(config)]) == 1
    printed = capsys.readouterr()
    assert "[1/2] broken seed 0: FAILED: ValueError" in printed.out
    assert "error.log" in printed.out
    assert "failed" in printed.err
    summary = json.loads((tmp_path / "sweep/summary.json").read_text())
    assert [f["config"] for f in summary["failed"]] == ["broken"]
    assert summary["finished_runs"] == 1
    assert "Traceback" in (tmp_path / "sweep/runs/broken/seed0/error.log").read_text()
    saved = yaml.safe_load((tmp_path / "sweep/runs/pixel-permuted/seed0/config.yaml").read_text())
    assert saved["permute"] == "pixel"

    docs = tmp_path / "docs/reproductions.md"
    assert main(["sweep", "--docs", str(docs), "--results-dir", str(tmp_path / "sweep")]) == 0
    page = docs.read_text()
    assert "## x. permuted against broken" in page
    assert "permuted beats broken: **not resolved at this scale** — fewer than 2 finished seeds (n = 1, 0)" in page
    assert "| pixel-permuted | 1 |" in page
    assert "- broken seed 0: ValueError" in page
    assert (tmp_path / "sweep/study_x.png").stat().st_size > 1000


@pytest.mark.parametrize(("argv", "message"), [
    (["--models", "mlpv_mixer_s16"], "a sweep needs an output folder"),
    (["--out", "x"], "a sweep needs at least one model"),
    (["--models", "mlpv_mixr_s16", "--out", "x"], "unknown model 'mlpv_mixr_s16'"),
    (["--models", "mlpv_mixer_s16", "--out", "x", "--set", "epochz=3"], "unknown training setting 'epochz'"),
    (["--models", "mlpv_mixer_s16", "--out", "x", "--set", "seed=3"], "'seed' is set by the sweep itself"),
    (["--models", "mlpv_mixer_s16", "--out", "x", "--grid", "permute"], "--grid expects KEY=V1,V2"),
    (["--models", "mlpv_mixer_s16", "--out", "x", "--grid", "permute=rows"], "--permute 'rows' is not one of"),
    (["--models", "mlpv_mixer_s16", "--out", "x", "--seeds", "1", "1"], "--seeds must be distinct"),
    (["--model-kwargs", "depth=2", "--out", "x"], "--model-kwargs applies to the models named by --models"),
    (["--config", "/no/such.yaml"], "--config /no/such.yaml: no such file"),
])
def test_bad_input_is_one_line_and_exit_2(argv, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["sweep", *argv]) == 2
    err = capsys.readouterr().err
    assert message in err
    assert err.count("\n") == 1


def test_a_folder_made_by_other_settings_is_refused(tmp_path, capsys):
    config = tmp_path / "sweep.yaml"
    config.write_text("out: " + str(tmp_path / "sweep") + "\nmodels: [mlpv_mixer_s16]\nseeds: [0]\nunknown: 1\n")
    assert main(["sweep", "--config", str(config)]) == 2
    assert "unknown key(s) unknown" in capsys.readouterr().err
    run = tmp_path / "sweep/runs/mlpv_mixer_s16/seed0"
    run.mkdir(parents=True)
    (run / "sweep_point.json").write_text(json.dumps({"overrides": {"model": "other"}, "attempts": []}))
    assert main(["sweep", "--models", "mlpv_mixer_s16", "--seeds", "0", "--out", str(tmp_path / "sweep")]) == 2
    assert "was made by other settings than this sweep's 'mlpv_mixer_s16' seed 0" in capsys.readouterr().err
