"""Human-readable results: the closing table and the loss/accuracy curves."""

import csv
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table


def _per_epoch(metrics_csv: Path) -> dict[str, dict[int, float]]:
    """Lightning's metrics.csv (one row per logging call) → metric → epoch → value."""
    series: dict[str, dict[int, float]] = {}
    with open(metrics_csv, newline="") as handle:
        for row in csv.DictReader(handle):
            if not row.get("epoch"):
                continue
            epoch = int(float(row["epoch"]))
            for key, value in row.items():
                if key not in ("epoch", "step") and value not in ("", None):
                    series.setdefault(key, {})[epoch] = float(value)
    return series


def stash_metrics(run_dir: Path) -> None:
    """Move a resumed run's ``metrics.csv`` aside (Lightning's CSV logger deletes it) as ``metrics.part<N>.csv``."""
    current = run_dir / "metrics.csv"
    if current.is_file():
        current.rename(run_dir / f"metrics.part{len(list(run_dir.glob('metrics.part*.csv')))}.csv")


def combine_metrics(run_dir: Path) -> None:
    """Join the stashed parts and the current ``metrics.csv`` into one ``metrics.csv`` (columns united)."""
    parts = sorted(run_dir.glob("metrics.part*.csv"), key=lambda p: int(p.stem.removeprefix("metrics.part")))
    if not parts:
        return
    rows: list[dict[str, str]] = []
    for path in [*parts, run_dir / "metrics.csv"]:
        if path.is_file():
            with open(path, newline="") as handle:
                rows += list(csv.DictReader(handle))
    columns = sorted({key for row in rows for key in row})
    with open(run_dir / "metrics.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    for path in parts:
        path.unlink()


def plot_curves(metrics_csv: Path, out_png: Path) -> None:
    """Two panels: training and validation loss, and validation top-1, per epoch."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    series = _per_epoch(metrics_csv)
    figure, (loss_axis, accuracy_axis) = plt.subplots(1, 2, figsize=(10, 4))
    for key, label in (("train_loss", "train"), ("val_loss", "validation")):
        if key in series:
            epochs = sorted(series[key])
            loss_axis.plot([e + 1 for e in epochs], [series[key][e] for e in epochs], marker="o", label=label)
    loss_axis.set(xlabel="epoch", ylabel="loss", title="loss")
    loss_axis.legend()
    for key, label in (("val_top1", "top-1"), ("val_top5", "top-5")):
        if key in series:
            epochs = sorted(series[key])
            accuracy_axis.plot([e + 1 for e in epochs], [100 * series[key][e] for e in epochs], marker="o",
                               label=label)
    accuracy_axis.set(xlabel="epoch", ylabel="validation accuracy (%)", title="accuracy")
    accuracy_axis.legend()
    figure.tight_layout()
    figure.savefig(out_png, dpi=100)
    plt.close(figure)


def print_results(results: dict[str, Any]) -> None:
    table = Table(title="results")
    table.add_column("")
    table.add_column("value", justify="right")
    for key in ("model", "params", "epochs", "train_seconds", "val_top1", "test_top1", "test_top5", "bad_images",
                "out"):
        value = results[key]
        table.add_row(key, f"{value:,}" if isinstance(value, int) else str(value))
    Console().print(table)
