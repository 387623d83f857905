"""run_bench(): one benchmark run (plain, side by side, a sweep or the matmul peak) → rows, ready to save."""

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import timm
import torch
from rich.progress import track
from timm.utils import reparameterize_model
from torch import nn

from ..models import check_model_name
from . import compare as comparison
from . import data as data_bench
from . import report, timing
from . import sweep as sweeps

COLUMNS = {
    "bench": ["model", "mode", "params", "gmacs", "samples_per_sec", "step_ms", "step_ms_min", "step_ms_max",
              "peak_memory_mb", "gflops_per_sec"],
    "compare-timm": ["model", "reference", "mode", "ours_ms", "reference_ms", "ratio", "max_abs_diff"],
    "sweep-tokens": ["tokens", "mode", "impl", "chosen", "ms"],
    "sweep-img-size": ["model", "mode", "img_size", "batch_size", "gmacs", "samples_per_sec", "step_ms"],
    "peak": ["precision", "size", "gflops_per_sec"],
    "data": data_bench.COLUMNS,
}
COLUMNS["compare-dense"] = COLUMNS["compare-timm"]
COLUMNS["sweep-batch"] = COLUMNS["sweep-img-size"]
PLOTS = {"sweep-tokens": ("tokens", "ms", "impl"), "sweep-img-size": ("img_size", "samples_per_sec", "model"),
         "sweep-batch": ("batch_size", "samples_per_sec", "model")}


@dataclasses.dataclass
class BenchRun:
    kind: str
    title: str
    rows: list[dict[str, Any]]
    conditions: dict[str, Any]
    device: str

    def save(self, results_dir: Path) -> Path:
        """``results/<kind>-<conditions>-<machine>.csv``, and its plot for a sweep."""
        path = report.result_path(results_dir, self.kind, self.conditions, self.device)
        report.write_rows(self.rows, csv_path=path)
        if self.kind in PLOTS:
            x, y, series = PLOTS[self.kind]
            report.plot_sweep(self.rows, x, y, series, path.with_suffix(".png"), self.title,
                              log_x=self.kind == "sweep-tokens")
        return path


def build_for_timing(name: str, img_size: int | None, reparam: bool) -> nn.Module:
    """``name`` at ``img_size`` (an mlpvision model is built for it; default: the model's own), optionally in its
    re-parameterised inference form."""
    kwargs = {"img_size": img_size} if img_size and name.startswith("mlpv_") else {}
    model = timm.create_model(name, **kwargs)
    return reparameterize_model(model.eval()) if reparam else model


def check_arguments(batch_size: int, img_size: int | None, device: str, repeats: int, threads: int | None,
                    peak_size: int) -> None:
    """Refuse values no measurement can be made with, naming the flag (before any model is built)."""
    for flag, value in (("--batch-size", batch_size), ("--img-size", img_size), ("--repeats", repeats),
                        ("--threads", threads), ("--peak-size", peak_size)):
        if value is not None and value < 1:
            raise ValueError(f"{flag} must be at least 1, got {value}")
    try:
        target = torch.device(device)
    except RuntimeError as error:
        raise ValueError(f"--device {device!r} is not a device name; use cpu, cuda or cuda:N") from error
    if target.type not in ("cpu", "cuda"):
        raise ValueError(f"--device {device}: bench measures on cpu or cuda")
    if target.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"--device {device}: torch sees no CUDA GPU on this machine; use --device cpu")
    if target.type == "cuda" and (target.index or 0) >= torch.cuda.device_count():
        raise ValueError(f"--device {device}: this machine has {torch.cuda.device_count()} CUDA GPU(s)")


def run_bench(
        models: Sequence[str],
        *,
        batch_size: int = 32,
        img_size: int | None = None,
        device: str = "cpu",
        precision: str = "fp32",
        compile_model: bool = False,
        channels_last: bool = False,
        reparam: bool = False,
        mode: str = "infer",
        repeats: int = 5,
        threads: int | None = None,
        compare: str | None = None,
        sweep: str | None = None,
        peak: bool = False,
        peak_size: int = 2048,
        data: str | None = None,
        recipe: str | None = None,
        workers: int | None = None,
        batches: int = 20,
) -> BenchRun:
    chosen = [flag for flag, value in (("--peak", peak), ("--compare", compare), ("--sweep", sweep)) if value]
    if len(chosen) > 1:
        raise ValueError(f"choose one of --peak, --compare, --sweep (got {' and '.join(chosen)}): each is its own run")
    check_arguments(batch_size, img_size, device, repeats, threads, peak_size)
    if threads:
        torch.set_num_threads(threads)
    modes = ("infer", "train") if mode == "both" else (mode,)
    options = dict(device=device, precision=precision, repeats=repeats)
    context = report.context(device)
    conditions: dict[str, Any] = {"mode": mode, "dev": device, "prec": precision, "b": batch_size,
                                  "img": img_size or "own"}
    if reparam:
        conditions["reparam"] = "reparam"
    for name in models:
        check_model_name(name)
    if data:
        rows = [{**data_bench.loader_vs_model(data, name, recipe=recipe, batch_size=batch_size, img_size=img_size,
                                              workers=workers, batches=batches, device=device, repeats=repeats),
                 **context} for name in models]
        return BenchRun("data", "training loader vs model (images/s)", rows, {"data": "data", "dev": device}, device)
    if peak:
        rows = [{"precision": p, "size": peak_size, "gflops_per_sec": timing.matmul_peak(device, p, peak_size, repeats)}
                for p in ("fp32", "bf16")]
        return BenchRun("peak", "dense matmul peak (GFLOP/s)", [{**r, **context} for r in rows], {"dev": device},
                        device)
    if sweep == "tokens":
        rows = [dataclasses.asdict(point) for point in sweeps.sweep_circulant(repeats=repeats)]
        return BenchRun("sweep-tokens", "CCS token mixing: FFT vs dense vs automatic choice",
                        [{**r, **context} for r in rows], {"dev": device}, device)
    if sweep:
        rows = [row for m in modes for row in sweeps.sweep_models(list(models), sweep, batch_size, img_size or 224,
                                                                          mode=m, **options)]
        return BenchRun(f"sweep-{sweep}", f"samples/s as the {sweep} grows", [{**r, **context} for r in rows],
                        conditions, device)
    rows = []
    work = [(name, m) for name in models for m in modes]
    for name, m in track(work, description="comparing" if compare else "benchmarking"):
        if compare:
            size = img_size or 224
            ours, reference = (comparison.timm_pair(name, size) if compare == "timm"
                               else comparison.dense_pair(name, size))
            label = comparison.TIMM_TWINS[name] if compare == "timm" else f"{name} (dense)"
            result = comparison.compare(name, ours, label, reference, mode=m, batch_size=batch_size,
                                        img_size=size, **options)
        else:
            model = build_for_timing(name, img_size, reparam and m == "infer")
            size = img_size or model.pretrained_cfg["input_size"][-1]
            result = timing.measure(name, model, mode=m, batch_size=batch_size, img_size=size,
                                    channels_last=channels_last, compile_model=compile_model, **options)
        rows.append({**dataclasses.asdict(result), **context})
    kind = f"compare-{compare}" if compare else "bench"
    return BenchRun(kind, f"ours vs {compare}" if compare else "throughput", rows, conditions, device)

