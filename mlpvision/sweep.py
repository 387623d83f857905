"""``mlpvision sweep``: a grid of ordinary training runs — models × settings × seeds under one recipe and data —
that survives interruptions and failures, and its summary over seeds.

Every grid point is a run folder ``OUT/runs/<configuration>/seed<N>`` made by :func:`mlpvision.train.train`, the
same as ``mlpvision train --out`` makes. Running the sweep again continues it: a run with ``results.json`` is kept,
a run with a saved training state continues through the run's own ``--resume`` (exactly, see
``train/checkpoint.py``), anything else starts afresh. A grid point that raises is reported and the sweep goes on.
Points run seed by seed (every configuration's seed 0 first), so a sweep stopped early is still balanced.

The summary (``summary.json``, ``summary.csv``, ``accuracy_vs_params.png``, ``accuracy_vs_time.png``) gives per
configuration the mean ± sample standard deviation over seeds of test top-1, training seconds and images/s, the
parameter and GMAC counts, and, with ``robustness``, top-1 under the conditions of ``mlpvision analyze robustness``.
"""

import csv
import dataclasses
import itertools
import json
import math
import multiprocessing
import os
import platform
import re
import shutil
import statistics
import time
import traceback
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any

import yaml

from .train.config import TrainConfig, resolve_config

# settings the grid itself owns: a sweep names its models and seeds, and places every run
_OWN_KEYS = ("model", "model_kwargs", "seed", "out", "resume")
SPEC_KEYS = ("out", "data", "recipe", "models", "seeds", "set", "grid", "robustness", "jobs", "devices", "summary",
             "study")


@dataclasses.dataclass
class ModelSpec:
    """One model of the grid: a label for tables and plots, the registered name, its keyword arguments, and
    training settings of its own (e.g. ``permute``, or an input size that its stem needs)."""

    label: str
    model: str
    model_kwargs: dict[str, Any] = dataclasses.field(default_factory=dict)
    settings: dict[str, Any] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class SweepSpec:
    """What to run: ``models`` × the cartesian ``grid`` of settings × ``seeds``, all with the ``settings``."""

    out: Path
    models: list[ModelSpec]
    seeds: list[int]
    settings: dict[str, Any] = dataclasses.field(default_factory=dict)
    grid: dict[str, list[Any]] = dataclasses.field(default_factory=dict)
    robustness: bool | list[str] = False  # every run, or the runs of these model labels
    summary: Path | None = None  # a second folder for the summary files (e.g. under results/, to commit)
    study: dict[str, Any] = dataclasses.field(default_factory=dict)  # claim, source, scale: for docs/

    def validate(self) -> None:
        """Raise ``ValueError`` with one actionable line for the first bad entry; checks every point's settings."""
        if not self.models:
            raise ValueError("a sweep needs at least one model (--models, or 'models:' in the YAML file)")
        if not self.seeds or len(set(self.seeds)) != len(self.seeds):
            raise ValueError(f"--seeds must be distinct integers, got {self.seeds}")
        labels = [model.label for model in self.models]
        if len(set(labels)) != len(labels):
            raise ValueError(f"model labels must be distinct, got {labels} (give each a 'label:' in the YAML file)")
        fields = {f.name for f in dataclasses.fields(TrainConfig)}
        for key in [*self.settings, *self.grid, *(key for model in self.models for key in model.settings)]:
            if key in _OWN_KEYS:
                raise ValueError(f"{key!r} is set by the sweep itself (models, seeds and --out); remove it from the "
                                 f"settings")
            if key not in fields:
                raise ValueError(f"unknown training setting {key!r} in the sweep; see `mlpvision train --help`")
        for key, values in self.grid.items():
            if not isinstance(values, list) or not values:
                raise ValueError(f"grid setting {key!r} needs a non-empty list of values, got {values!r}")
        if isinstance(self.robustness, list) and set(self.robustness) - set(labels):
            raise ValueError(f"robustness names {sorted(set(self.robustness) - set(labels))}, which are not model "
                             f"labels of the sweep ({', '.join(labels)})")
        for point in points(self):
            resolve_config(point.overrides)


@dataclasses.dataclass
class Point:
    """One run of the grid."""

    config: str  # the configuration's label (model label and grid values), shared by its seeds
    seed: int
    overrides: dict[str, Any]  # the settings given to resolve_config
    run_dir: Path
    robustness: bool = False  # also measure the run under the `analyze robustness` conditions


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9.+=-]+", "_", text).strip("_")


def _value_text(value: Any) -> str:
    return "none" if value is None else str(value)


def configurations(spec: SweepSpec) -> list[tuple[str, ModelSpec, dict[str, Any]]]:
    """(label, model, grid values) for each model × grid combination, in order."""
    keys = list(spec.grid)
    combos = list(itertools.product(*(spec.grid[key] for key in keys))) or [()]
    result = []
    for model in spec.models:
        for combo in combos:
            values = dict(zip(keys, combo, strict=True))
            label = " ".join([model.label, *(f"{key}={_value_text(value)}" for key, value in values.items())])
            result.append((label, model, values))
    return result


def points(spec: SweepSpec) -> list[Point]:
    """Every run of the sweep, seed-major: all configurations of the first seed, then of the next."""
    result = []
    for seed in spec.seeds:
        for label, model, values in configurations(spec):
            overrides = {**spec.settings, **model.settings, **values, "model": model.model,
                         "model_kwargs": dict(model.model_kwargs), "seed": seed}
            robust = spec.robustness is True or (isinstance(spec.robustness, list) and model.label in spec.robustness)
            result.append(Point(label, seed, overrides, spec.out / "runs" / _slug(label) / f"seed{seed}", robust))
    return result


# ---- describing a sweep: the command line or a YAML file ------------------------------------------------------


def load_spec(path: Path, overrides: dict[str, Any] | None = None) -> SweepSpec:
    """A sweep from a YAML file (keys: ``SPEC_KEYS``); ``overrides`` (from the command line) win over it."""
    if not path.is_file():
        raise FileNotFoundError(f"--config {path}: no such file")
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as error:
        raise ValueError(f"--config {path}: not valid YAML ({str(error).splitlines()[0]})") from error
    if not isinstance(raw, dict):
        raise ValueError(f"--config {path}: expected a mapping of {', '.join(SPEC_KEYS)}")
    unknown = set(raw) - set(SPEC_KEYS)
    if unknown:
        raise ValueError(f"--config {path}: unknown key(s) {', '.join(sorted(unknown))}; expected "
                         f"{', '.join(SPEC_KEYS)}")
    raw.update({key: value for key, value in (overrides or {}).items() if value is not None})
    return spec_from_dict(raw)


def _model_spec(entry: Any) -> ModelSpec:
    if isinstance(entry, str):
        return ModelSpec(entry, entry)
    if not isinstance(entry, dict) or "model" not in entry or set(entry) - {"label", "model", "model_kwargs", "set"}:
        raise ValueError(f"a model entry is a name or a mapping of model, label, model_kwargs and set; got {entry!r}")
    settings = dict(entry.get("set") or {})
    for pair in ("scale", "ratio"):
        if pair in settings:
            settings[pair] = tuple(settings[pair])
    return ModelSpec(entry.get("label", entry["model"]), entry["model"], dict(entry.get("model_kwargs") or {}),
                     settings)


def _robustness(value: Any) -> bool | list[str]:
    if isinstance(value, bool):
        return value
    if isinstance(value, list) and all(isinstance(label, str) for label in value):
        return value
    raise ValueError(f"robustness must be true, false or a list of model labels, got {value!r}")


def spec_from_dict(raw: dict[str, Any]) -> SweepSpec:
    """A validated spec from plain values (the YAML file's layout)."""
    if not raw.get("out"):
        raise ValueError("a sweep needs an output folder (--out, or 'out:' in the YAML file)")
    settings = dict(raw.get("set") or {})
    for key in ("data", "recipe"):
        if raw.get(key) is not None:
            settings[key] = raw[key]
    for pair in ("scale", "ratio"):
        if pair in settings:
            settings[pair] = tuple(settings[pair])
    grid = {key: list(values) if isinstance(values, list | tuple) else values
            for key, values in (raw.get("grid") or {}).items()}
    seeds = raw.get("seeds", [0, 1, 2])
    if not isinstance(seeds, list) or not all(isinstance(seed, int) for seed in seeds):
        raise ValueError(f"seeds must be a list of integers, got {seeds!r}")
    spec = SweepSpec(
        out=Path(raw["out"]), models=[_model_spec(entry) for entry in raw.get("models") or []], seeds=seeds,
        settings=settings, grid=grid, robustness=_robustness(raw.get("robustness", False)),
        summary=Path(raw["summary"]) if raw.get("summary") else None, study=dict(raw.get("study") or {}),
    )
    spec.validate()
    return spec


# ---- running one point ----------------------------------------------------------------------------------------


def _attempts(run_dir: Path) -> dict[str, Any]:
    record = run_dir / "sweep_point.json"
    return json.loads(record.read_text()) if record.is_file() else {}


def _record(point: Point, outcome: str, seconds: float, error: str | None = None) -> None:
    record = _attempts(point.run_dir) or {"config": point.config, "seed": point.seed,
                                          "overrides": _plain(point.overrides), "attempts": []}
    record["attempts"].append({"outcome": outcome, "seconds": round(seconds, 2), "error": error,
                               "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S")})
    (point.run_dir / "sweep_point.json").write_text(json.dumps(record, indent=2))


def _plain(value: Any) -> Any:
    """Tuples as lists, so that a point's settings compare equal to what its JSON record holds."""
    return json.loads(json.dumps(value))


def point_state(point: Point) -> str:
    """``done``, ``resume`` (a saved training state) or ``new``; a folder made by other settings is an error."""
    record = _attempts(point.run_dir)
    if record and record.get("overrides") != _plain(point.overrides):
        raise ValueError(f"{point.run_dir} was made by other settings than this sweep's {point.config!r} seed "
                         f"{point.seed}; use another --out, or delete that folder")
    if (point.run_dir / "results.json").is_file():
        return "done"
    checkpoints = point.run_dir / "checkpoints"
    if (point.run_dir / "config.yaml").is_file() and any(
            (checkpoints / name).is_file() for name in ("last.ckpt", "interrupted.ckpt")):
        return "resume"
    return "new"


def run_point(point: Point, callbacks: Sequence[Any] = ()) -> dict[str, Any]:
    """Train (or resume) one point; an exception is caught and returned as a failure, an interruption re-raised."""
    from .train import train

    state = point_state(point)
    outcome = {"config": point.config, "seed": point.seed, "run_dir": str(point.run_dir), "state": state}
    started = time.perf_counter()
    try:
        if state != "done":
            if state == "new" and point.run_dir.exists():
                # a folder without a resumable state holds nothing worth keeping (a start that failed early)
                keep = _attempts(point.run_dir)
                shutil.rmtree(point.run_dir)
                point.run_dir.mkdir(parents=True)
                if keep:
                    (point.run_dir / "sweep_point.json").write_text(json.dumps(keep, indent=2))
            point.run_dir.mkdir(parents=True, exist_ok=True)
            overrides = {"resume": str(point.run_dir)} if state == "resume" else {**point.overrides,
                                                                                  "out": str(point.run_dir)}
            train(resolve_config(overrides), callbacks=callbacks)
            (point.run_dir / "error.log").unlink(missing_ok=True)  # from an earlier failed attempt
            _record(point, "resumed" if state == "resume" else "trained", time.perf_counter() - started)
        config = resolve_config(point.overrides)
        # a run trained on permuted images is tested on them; the robustness conditions apply to plain images
        if point.robustness and not config.permute and not (point.run_dir / "robustness" / "robustness.json").is_file():
            from .analyze import robustness_report

            robustness_report(str(point.run_dir), None, config.data, point.run_dir / "robustness")
    except Exception as error:  # a failing point is reported, and the sweep goes on
        message = f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"
        point.run_dir.mkdir(parents=True, exist_ok=True)
        (point.run_dir / "error.log").write_text(traceback.format_exc())
        _record(point, "failed", time.perf_counter() - started, message)
        return {**outcome, "status": "failed", "error": message}
    except BaseException:  # Ctrl-C or SIGTERM: the run saved its state; the next sweep resumes it
        _record(point, "interrupted", time.perf_counter() - started)
        raise
    return {**outcome, "status": "ok" if state == "done" else state if state == "resume" else "trained"}


def _init_worker(devices: Any, threads: int) -> None:
    """A worker process: one device of the queue (CUDA_VISIBLE_DEVICES), and its share of the CPU threads."""
    if devices is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = str(devices.get())
    import torch

    torch.set_num_threads(threads)


def _run_point_quietly(point: Point) -> dict[str, Any]:
    """``run_point`` in a worker: its output goes to ``seed<N>.log`` beside the run folder (side-by-side runs would
    mix; a fresh start empties the run folder)."""
    import contextlib

    point.run_dir.parent.mkdir(parents=True, exist_ok=True)
    try:
        with open(point.run_dir.with_suffix(".log"), "a") as log, contextlib.redirect_stdout(log), \
                contextlib.redirect_stderr(log):
            return run_point(point)
    except (KeyboardInterrupt, SystemExit):
        # the pool would hand this worker its next point: after Ctrl-C or SIGTERM (its state saved) it must stop
        os._exit(130)


STATUS_TEXT = {"ok": "already done", "resume": "resumed and finished", "trained": "finished"}


def run_sweep(spec: SweepSpec, jobs: int | None = None, devices: Sequence[str] = (),
              report: Callable[[str], None] = print, callbacks: Sequence[Any] = ()) -> list[dict[str, Any]]:
    """Run every point not yet done, ``jobs`` at a time (default: one per device, else one), ``devices`` shared out
    among the workers; returns the outcomes."""
    save_spec(spec)
    todo = points(spec)
    for point in todo:
        point_state(point)  # a folder made by other settings stops the sweep before anything runs
    outcomes: list[dict[str, Any]] = []

    def note(outcome: dict[str, Any]) -> None:
        outcomes.append(outcome)
        done = f"[{len(outcomes)}/{len(todo)}] {outcome['config']} seed {outcome['seed']}"
        if outcome["status"] == "failed":
            report(f"{done}: FAILED: {outcome['error']} (traceback: {outcome['run_dir']}/error.log)")
        else:
            report(f"{done}: {STATUS_TEXT[outcome['status']]}")

    jobs = max(1, jobs or len(devices))
    if jobs == 1 and len(devices) <= 1:
        if devices:
            os.environ["CUDA_VISIBLE_DEVICES"] = str(devices[0])
        for point in todo:
            report(f"[{len(outcomes) + 1}/{len(todo)}] {point.config} seed {point.seed}: {point_state(point)} "
                   f"→ {point.run_dir}")
            note(run_point(point, callbacks))
        return outcomes
    context = multiprocessing.get_context("spawn")
    queue = None
    if devices:
        queue = context.Manager().Queue()
        for index in range(jobs):
            queue.put(devices[index % len(devices)])
    threads = max(1, (os.cpu_count() or 1) // jobs)
    with ProcessPoolExecutor(jobs, mp_context=context, initializer=_init_worker, initargs=(queue, threads)) as pool:
        futures = {pool.submit(_run_point_quietly, point): point for point in todo}
        for future in as_completed(futures):
            point = futures[future]
            try:
                note(future.result())
            except BrokenProcessPool:
                # a worker stopped by Ctrl-C or SIGTERM, or killed (out of memory?): the next sweep continues it
                raise SystemExit(f"a worker process stopped while running {point.config} seed {point.seed} (see "
                                 f"{point.run_dir.with_suffix('.log')})") from None
    return outcomes


def save_spec(spec: SweepSpec) -> None:
    """``OUT/sweep.yaml``: the sweep as run, a file ``--config`` takes."""
    spec.out.mkdir(parents=True, exist_ok=True)
    (spec.out / "sweep.yaml").write_text(yaml.safe_dump(spec_to_dict(spec), sort_keys=False))


def spec_to_dict(spec: SweepSpec) -> dict[str, Any]:
    """The spec in the YAML file's layout (written as ``OUT/sweep.yaml``, and into the summary)."""
    return _plain({
        "out": str(spec.out), "seeds": spec.seeds,
        "models": [{"label": m.label, "model": m.model, "model_kwargs": m.model_kwargs, "set": m.settings}
                   for m in spec.models],
        "set": spec.settings, "grid": spec.grid, "robustness": spec.robustness,
        **({"summary": str(spec.summary)} if spec.summary else {}), **({"study": spec.study} if spec.study else {}),
    })


# ---- the summary ----------------------------------------------------------------------------------------------


def _stats(values: list[float]) -> dict[str, float | int | None]:
    values = [v for v in values if v is not None and math.isfinite(v)]
    if not values:
        return {"mean": None, "std": None, "n": 0}
    std = statistics.stdev(values) if len(values) > 1 else None
    return {"mean": statistics.fmean(values), "std": std, "n": len(values)}


def _images_per_second(run_dir: Path, results: dict[str, Any], seconds: float) -> float | None:
    """Training images per second: optimiser steps (the final step Lightning logged) × global batch / seconds."""
    config = yaml.safe_load((run_dir / "config.yaml").read_text())
    with open(run_dir / "metrics.csv", newline="") as handle:
        steps = max((int(float(row["step"])) for row in csv.DictReader(handle) if row.get("step")), default=0)
    batch = config["batch_size"] * config["grad_accum_steps"] * config["devices"] * config["num_nodes"]
    return steps * batch / seconds if seconds > 0 else None


def _gmacs(overrides: dict[str, Any], num_classes: int) -> float | None:
    """Forward GMACs at the run's input size, counted on the meta device (``complexity.count_gmacs``)."""
    import torch

    from .complexity import count_gmacs
    from .data import data_config
    from .train.run import create_model

    config = resolve_config(overrides)
    with torch.device("meta"):
        model = create_model(config, num_classes)
    return count_gmacs(model, tuple(data_config(model, config.img_size)["input_size"]))


def collect_run(point: Point) -> dict[str, Any] | None:
    """One finished run's numbers, or None when it has no ``results.json`` yet."""
    results_path = point.run_dir / "results.json"
    if not results_path.is_file():
        return None
    results = json.loads(results_path.read_text())
    attempts = _attempts(point.run_dir).get("attempts", [])
    interrupted = sum(a["seconds"] for a in attempts if a["outcome"] == "interrupted")
    seconds = results["train_seconds"] + interrupted  # a resumed run's fit time covers only its last part
    row = {"config": point.config, "seed": point.seed, "run_dir": str(point.run_dir),
           "test_top1": results["test_top1"], "val_top1": results["val_top1"], "params": results["params"],
           "epochs": results["epochs"], "train_seconds": round(seconds, 2),
           "images_per_s": _images_per_second(point.run_dir, results, seconds), "classes": len(results["classes"]),
           "resumed": any(a["outcome"] == "resumed" for a in attempts)}
    robustness = point.run_dir / "robustness" / "robustness.json"
    if robustness.is_file():
        row["robustness"] = {item["name"]: item for item in json.loads(robustness.read_text())}
    return row


def summarize(spec: SweepSpec, command: str | None = None) -> dict[str, Any]:
    """Per configuration, mean ± std over the finished seeds; written to ``OUT`` (and ``spec.summary``)."""
    save_spec(spec)
    all_points = points(spec)
    runs = [row for row in map(collect_run, all_points) if row is not None]
    failed = []
    for point in all_points:  # the points whose latest attempt failed, from their records (not only this sweep's)
        attempts = _attempts(point.run_dir).get("attempts", [])
        if attempts and attempts[-1]["outcome"] == "failed" and not (point.run_dir / "results.json").is_file():
            failed.append({"config": point.config, "seed": point.seed, "run_dir": str(point.run_dir),
                           "error": attempts[-1]["error"]})
    configs = []
    for label, model, values in configurations(spec):
        rows = [row for row in runs if row["config"] == label]
        entry: dict[str, Any] = {
            "config": label, "model_label": model.label, "model": model.model, "model_kwargs": model.model_kwargs,
            "settings": _plain(model.settings), "grid": _plain(values), "seeds": [row["seed"] for row in rows],
            "n": len(rows),
            "params": rows[0]["params"] if rows else None,
            "gmacs": _gmacs(next(p.overrides for p in all_points if p.config == label), rows[0]["classes"])
            if rows else None,
        }
        for metric in ("test_top1", "val_top1", "train_seconds", "images_per_s"):
            entry[metric] = _stats([row[metric] for row in rows])
        names = list(rows[0].get("robustness", {})) if rows else []
        entry["robustness"] = {name: {"top1": _stats([row["robustness"][name]["top1"] for row in rows]),
                                      "change": _stats([row["robustness"][name]["change"] for row in rows])}
                               for name in names if all(name in row.get("robustness", {}) for row in rows)}
        configs.append(entry)
    import torch

    summary = {
        "title": spec.study.get("title", spec.out.name), "study": spec.study, "command": command,
        "spec": spec_to_dict(spec), "planned_runs": len(all_points), "finished_runs": len(runs),
        "machine": {"platform": platform.platform(), "processor": platform.processor() or platform.machine(),
                    "cpu_count": os.cpu_count(), "torch": torch.__version__,
                    "device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu"},
        "written_at": time.strftime("%Y-%m-%dT%H:%M:%S"), "configs": configs, "runs": runs, "failed": failed,
    }
    for folder in [spec.out, *([spec.summary] if spec.summary else [])]:
        write_summary(summary, folder)
    return summary


def metric(entry: dict[str, Any], name: str) -> dict[str, Any]:
    """A configuration's statistics of ``name``: ``test_top1`` etc., ``top1:<condition>`` or ``change:<condition>``."""
    kind, _, condition = name.partition(":")
    if condition:
        if condition not in entry["robustness"]:
            raise ValueError(f"no robustness condition {condition!r} in {entry['config']!r} (run with robustness)")
        return entry["robustness"][condition][kind]
    return entry[name]


def format_stat(stats: dict[str, Any], digits: int = 2) -> str:
    if stats["mean"] is None:
        return "–"
    spread = f" ± {stats['std']:.{digits}f}" if stats["std"] is not None else ""
    return f"{stats['mean']:.{digits}f}{spread}"


CSV_COLUMNS = ("config", "model", "n", "test_top1_mean", "test_top1_std", "params", "gmacs", "train_seconds_mean",
               "train_seconds_std", "images_per_s_mean", "images_per_s_std")


def write_summary(summary: dict[str, Any], folder: Path) -> None:
    """``summary.json``, ``summary.csv`` and the two plots in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "summary.json").write_text(json.dumps(summary, indent=2))
    conditions = sorted({name for entry in summary["configs"] for name in entry["robustness"]})
    with open(folder / "summary.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow([*CSV_COLUMNS, *(f"{kind}:{name}_{stat}" for name in conditions for kind in ("top1", "change")
                                         for stat in ("mean", "std"))])
        for entry in summary["configs"]:
            row = [entry["config"], entry["model"], entry["n"]]
            row += [entry["test_top1"]["mean"], entry["test_top1"]["std"], entry["params"], entry["gmacs"]]
            row += [entry[m][s] for m in ("train_seconds", "images_per_s") for s in ("mean", "std")]
            for name in conditions:
                for kind in ("top1", "change"):
                    stats = entry["robustness"].get(name, {}).get(kind, {"mean": None, "std": None})
                    row += [stats["mean"], stats["std"]]
            writer.writerow(row)
    plot_summary(summary, folder)


def plot_summary(summary: dict[str, Any], folder: Path) -> None:
    """Test top-1 (mean, error bar: std over seeds) against parameters and against training seconds."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shown = [entry for entry in summary["configs"] if entry["n"]]
    for x_key, x_label, name in (("params", "parameters", "accuracy_vs_params.png"),
                                 ("train_seconds", "training seconds", "accuracy_vs_time.png")):
        figure, axis = plt.subplots(figsize=(6.5, 4.2))
        for entry in shown:
            x = entry[x_key] if x_key == "params" else entry[x_key]["mean"]
            x_err = None if x_key == "params" else entry[x_key]["std"]
            axis.errorbar(x, entry["test_top1"]["mean"], yerr=entry["test_top1"]["std"], xerr=x_err, fmt="o",
                          capsize=3, label=f"{entry['config']} (n={entry['n']})")
        axis.set(xlabel=x_label, ylabel="test top-1 (%)", title=f"{summary['title']}: mean ± std over seeds")
        if x_key == "params" and shown:
            axis.ticklabel_format(axis="x", style="sci", scilimits=(0, 0))
        if shown:
            axis.legend(fontsize=7, loc="best")
        axis.grid(alpha=0.3)
        figure.tight_layout()
        figure.savefig(folder / name, dpi=100)
        plt.close(figure)


def print_summary(summary: dict[str, Any]) -> None:
    """The summary as a rich table (robustness conditions as extra columns of top-1 change)."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{summary['title']}: {summary['finished_runs']}/{summary['planned_runs']} runs, "
                        f"mean ± std over seeds")
    for column in ("configuration", "n", "test top-1 %", "params", "GMACs", "train s", "images/s"):
        table.add_column(column, justify="left" if column == "configuration" else "right")
    for entry in summary["configs"]:
        gmacs = f"{entry['gmacs']:.4f}" if entry["gmacs"] is not None else "–"
        params = f"{entry['params']:,}" if entry["params"] is not None else "–"
        table.add_row(entry["config"], str(entry["n"]), format_stat(entry["test_top1"]), params, gmacs,
                      format_stat(entry["train_seconds"], 1), format_stat(entry["images_per_s"], 0))
    Console().print(table)
    measured = [entry for entry in summary["configs"] if entry["robustness"]]
    if measured:
        table = Table(title="top-1 % under the robustness conditions (change from the original), mean over seeds")
        table.add_column("condition")
        for entry in measured:
            table.add_column(entry["config"], justify="right")
        for name in measured[0]["robustness"]:
            cells = [(e["robustness"].get(name) or {}) for e in measured]
            table.add_row(name, *(f"{format_stat(c['top1'], 1)} ({c['change']['mean']:+.1f})" if c else "–"
                                  for c in cells))
        Console().print(table)
    for outcome in summary["failed"]:
        Console(stderr=True).print(f"[red]failed[/red]: {outcome['config']} seed {outcome['seed']}: "
                                   f"{outcome['error']}")


# ---- the command line -----------------------------------------------------------------------------------------


def add_arguments(parser: Any) -> None:
    """The ``mlpvision sweep`` flags (an ``argparse`` parser)."""
    parser.add_argument("--config", help="a YAML file: out, data, recipe, models, seeds, set, grid, robustness, "
                                         "summary, study (flags given here win over it)")
    parser.add_argument("--models", nargs="+", metavar="NAME", help="mlpvision or timm model names")
    parser.add_argument("--model-kwargs", nargs="+", metavar="KEY=VALUE",
                        help="keyword arguments for every model named by --models")
    parser.add_argument("--seeds", nargs="+", type=int, help="one run per seed (default 0 1 2)")
    parser.add_argument("--data", help="as for `mlpvision train`")
    parser.add_argument("--recipe", help="as for `mlpvision train`")
    parser.add_argument("--set", nargs="+", default=[], metavar="KEY=VALUE",
                        help="training settings for every run, e.g. epochs=10 batch_size=64")
    parser.add_argument("--grid", nargs="+", default=[], metavar="KEY=V1,V2",
                        help="training settings to cross with the models, e.g. permute=none,patch,pixel")
    parser.add_argument("--out", help="the sweep folder (runs/, summary.json, summary.csv, plots)")
    parser.add_argument("--robustness", action="store_true",
                        help="also measure each run under the `analyze robustness` conditions (shuffles, shifts)")
    parser.add_argument("--jobs", type=int, default=None, help="runs side by side, each in its own process")
    parser.add_argument("--devices", help="comma-separated CUDA devices shared out among the jobs, e.g. 0,1")
    parser.add_argument("--summary", help="a second folder for the summary files (e.g. results/reproductions/X)")
    parser.add_argument("--summarize-only", action="store_true", help="write the summary of the runs so far")
    parser.add_argument("--docs", metavar="PATH", help="write PATH (docs/reproductions.md) from --results-dir and stop")
    parser.add_argument("--results-dir", default="results/reproductions",
                        help="for --docs: the folder with the sweep's summary.json")


def spec_from_args(args: Any) -> SweepSpec:
    from .cli import _key_values, _parse_value

    cli: dict[str, Any] = {"out": args.out, "data": args.data, "recipe": args.recipe, "summary": args.summary}
    if args.seeds:
        cli["seeds"] = args.seeds
    if args.models:
        kwargs = _key_values(args.model_kwargs or [])
        cli["models"] = [{"model": name, "model_kwargs": kwargs} for name in args.models]
    elif args.model_kwargs:
        raise ValueError("--model-kwargs applies to the models named by --models; give --models too")
    if args.robustness:
        cli["robustness"] = True
    settings = _key_values(args.set)
    grid = {}
    for item in args.grid:
        key, sep, values = item.partition("=")
        if not sep or not key or not values:
            raise ValueError(f"--grid expects KEY=V1,V2,..., got {item!r}")
        grid[key.replace("-", "_")] = [None if v in ("none", "None") else _parse_value(v) for v in values.split(",")]
    if args.config:
        spec = load_spec(Path(args.config), cli)
        spec.settings.update(settings)
        spec.grid.update(grid)
        spec.validate()
        return spec
    return spec_from_dict({**cli, "set": settings, "grid": grid})


def sweep_command(args: Any) -> int:
    """Run (or continue) the sweep, then print and write its summary; exit status 1 when a point failed."""
    import shlex
    import sys

    if args.docs:
        from .reproductions import write_docs

        for study, verdicts in write_docs(Path(args.results_dir), Path(args.docs)):
            print(f"study {study}: {'; '.join(verdicts)}")
        print(f"wrote {args.docs} from {args.results_dir}/summary.json")
        return 0
    spec = spec_from_args(args)
    devices = [d for d in (args.devices or "").split(",") if d]
    command = "mlpvision " + shlex.join(sys.argv[1:]) if sys.argv[1:2] == ["sweep"] else None
    if not args.summarize_only:
        try:
            run_sweep(spec, jobs=args.jobs, devices=devices)
        except (KeyboardInterrupt, SystemExit):
            print(f"sweep interrupted: run the same command again to continue ({spec.out}: finished runs are kept, "
                  f"the interrupted one resumes)", file=sys.stderr, flush=True)
            raise
    summary = summarize(spec, command)
    print_summary(summary)
    print(f"summary: {spec.out}/summary.json, summary.csv, accuracy_vs_params.png, accuracy_vs_time.png"
          + (f" (and in {spec.summary})" if spec.summary else ""))
    return 1 if summary["failed"] else 0
