"""Benchmarks return sane fields in seconds; comparisons refuse models that compute different functions.

No test here asserts an absolute time.
"""

import csv
import json

import pytest
import timm
import torch
from timm.models.mlp_mixer import MlpMixer

from mlpvision.bench.compare import DifferentFunctionError, _randomize, check_same_function, compare
from mlpvision.bench.report import write_docs
from mlpvision.bench.run import build_for_timing
from mlpvision.bench.sweep import sweep_circulant
from mlpvision.bench.timing import matmul_peak, measure, tensor_memory_peak
from mlpvision.cli import main

from ..conftest import tiny_model


@pytest.mark.parametrize("mode", ["infer", "train"])
def test_measure_returns_sane_fields(mode):
    model = tiny_model("mlpv_mixer_s16")
    result = measure("tiny", model, mode=mode, batch_size=4, img_size=64, repeats=2, steps=1, warmup=1)
    assert result.params == sum(p.numel() for p in model.parameters())
    assert result.gmacs > 0
    assert result.samples_per_sec > 0
    assert result.step_ms_min <= result.step_ms <= result.step_ms_max
    assert result.peak_memory_mb > 0
    assert result.gflops_per_sec > 0


def test_tensor_memory_peak_counts_live_temporaries():
    def step():
        first = torch.empty(1024, dtype=torch.float32)  # 4 KiB
        second = torch.empty(2048, dtype=torch.float32)  # 8 KiB, alive together with the first
        del first, second
        return torch.empty(256, dtype=torch.float32)

    assert tensor_memory_peak(step) == 4096 + 8192


def _tiny_pair():
    reference = _randomize(MlpMixer(img_size=64, patch_size=16, num_blocks=2, embed_dim=32, num_classes=10)).eval()
    ours = tiny_model("mlpv_mixer_s16").eval()
    ours.load_state_dict(ours.checkpoint_filter(reference.state_dict(), ours))
    return ours, reference


def test_compare_same_function_gives_a_ratio():
    ours, reference = _tiny_pair()
    result = compare("ours", ours, "timm", reference, batch_size=2, img_size=64, repeats=2, steps=1, warmup=1)
    assert result.max_abs_diff <= 1e-5
    assert result.ratio > 0
    if abs(result.reference_ms - result.ours_ms) > 0.01:  # ratio = reference time / our time, from unrounded times
        assert (result.ratio > 1) == (result.reference_ms > result.ours_ms)


def test_compare_refuses_different_functions():
    ours, reference = _tiny_pair()
    with torch.no_grad():
        ours.head.bias.add_(0.01)
    with pytest.raises(DifferentFunctionError, match="different functions"):
        check_same_function(ours, reference, 64)


def test_circulant_sweep_reports_all_three_paths():
    points = sweep_circulant(channels=16, groups=4, work=64, repeats=1, modes=("infer",), grids=((7, 7), (12, 12)))
    assert {(p.tokens, p.impl) for p in points} == {(n, i) for n in (49, 144) for i in ("fft", "dense", "auto")}
    assert {p.chosen for p in points if p.tokens == 49} == {"dense"}
    assert all(p.ms > 0 for p in points)


def test_peak_and_cli(tmp_path, capsys):
    assert matmul_peak(size=256, repeats=1) > 0
    assert main(["bench", "--peak", "--peak-size", "64", "--repeats", "1", "--csv", str(tmp_path / "p.csv")]) == 0
    rows = list(csv.DictReader((tmp_path / "p.csv").read_text().splitlines()))
    assert [row["precision"] for row in rows] == ["fp32", "bf16"]
    assert all(row["machine"] and row["torch"] and row["date"] for row in rows)
    assert main(["bench", "resnet10t", "--batch-size", "2", "--img-size", "32", "--repeats", "1",
                 "--json", str(tmp_path / "r.json"), "--save", "--results-dir", str(tmp_path / "results")]) == 0
    assert json.loads((tmp_path / "r.json").read_text())[0]["model"] == "resnet10t"
    assert list((tmp_path / "results").glob("bench-infer-cpu-fp32-b2-img32-*.csv"))
    assert main(["bench", "--docs", str(tmp_path / "docs/benchmarks.md"), "--results-dir",
                 str(tmp_path / "results")]) == 0
    assert "resnet10t" in (tmp_path / "docs/benchmarks.md").read_text()
    assert main(["bench"]) == 2
    assert "name at least one model" in capsys.readouterr().err


def test_docs_link_plots(tmp_path):
    (tmp_path / "results").mkdir()
    (tmp_path / "results/sweep-tokens-cpu-x.csv").write_text("tokens,impl,ms,machine,torch,date\n49,fft,1.0,m,2,d\n")
    (tmp_path / "results/sweep-tokens-cpu-x.png").write_bytes(b"")
    write_docs(tmp_path / "results", tmp_path / "docs/benchmarks.md")
    assert "](../results/sweep-tokens-cpu-x.png)" in (tmp_path / "docs/benchmarks.md").read_text()


def test_timm_twins_are_registered():
    from mlpvision.bench.compare import TIMM_TWINS

    assert all(timm.is_model(twin) for twin in TIMM_TWINS.values())
    assert all(timm.is_model(ours) for ours in TIMM_TWINS)


def test_each_model_is_timed_at_its_own_size_unless_told_and_reparam_times_the_inference_form():
    model = build_for_timing("mlpv_repmlpnet_t256", None, reparam=False)
    assert model.img_size == (256, 256)
    assert build_for_timing("mlpv_repmlpnet_t256", 224, reparam=False).img_size == (224, 224)
    deployed = build_for_timing("mlpv_repmlpnet_t224", None, reparam=True)
    assert not deployed.training
    assert all(block.token_mixer.deployed for block in deployed.blocks)


@pytest.mark.parametrize(("argv", "message"), [
    (["--batch-size", "0"], "--batch-size must be at least 1, got 0"),
    (["--repeats", "0"], "--repeats must be at least 1, got 0"),
    (["--threads", "0"], "--threads must be at least 1, got 0"),
    (["--img-size", "-8"], "--img-size must be at least 1, got -8"),
    (["--peak", "--peak-size", "0"], "--peak-size must be at least 1, got 0"),
    (["--device", "tpu"], "--device 'tpu' is not a device name"),
    (["--device", "mps"], "--device mps: bench measures on cpu or cuda"),
    (["--json", "{tmp}"], "--json {tmp}: a folder; name the file to write"),
    (["--docs", "{tmp}/b.md", "--results-dir", "{tmp}/none"], "no results (*.csv) to write"),
])
def test_bad_bench_values_are_one_line_before_measuring(tmp_path, capsys, argv, message):
    argv = [arg.format(tmp=tmp_path) for arg in argv]
    assert main(["bench", "mlpv_mixer_s16", *argv]) == 2
    err = capsys.readouterr().err
    assert message.format(tmp=tmp_path) in err
    assert err.count("\n") == 1


@pytest.mark.skipif(torch.cuda.is_available(), reason="a machine without a GPU")
def test_bench_on_cuda_without_a_gpu_is_one_line(capsys):
    assert main(["bench", "mlpv_mixer_s16", "--device", "cuda"]) == 2
    err = capsys.readouterr().err
    assert "--device cuda: torch sees no CUDA GPU on this machine; use --device cpu" in err
    assert err.count("\n") == 1


@pytest.mark.parametrize("modes", [["--peak", "--compare", "timm"], ["--peak", "--sweep", "tokens"],
                                   ["--compare", "dense", "--sweep", "img-size"]])
def test_bench_modes_are_exclusive(modes, capsys):
    """--peak, --compare and --sweep are separate runs: asking for two is refused, not half done."""
    assert main(["bench", "mlpv_mixer_s32", *modes]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "one of --peak, --compare, --sweep" in err
