"""evaluate(): a trained checkpoint (or any timm/mlpvision model) on a dataset → top-1/top-5, per class, confusion.

A checkpoint is a run folder (its ``checkpoints/best.safetensors``) or a ``.safetensors`` file written by
``mlpvision train``, whose metadata names the architecture, its keyword arguments, input size and classes. The
data's classes are matched to the checkpoint's by name, so data with a subset or another order of them is scored
correctly; the held-out images are the run's own (its ``config.yaml``: data, hold-out fraction and seed).
"""

import csv
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from rich.console import Console
from rich.progress import track
from rich.table import Table

from .trained import held_out_set


@dataclass
class Evaluation:
    """Scores on the data's classes; a model's class absent from the data counts, when predicted, as "(other)"."""

    model: str
    split: str
    images: int
    top1: float
    top5: float
    classes: list[str]
    per_class_top1: list[float]
    per_class_count: list[int]
    confusion: list[list[int]]
    predicted_classes: list[str]
    bad_images: list[str]  # unreadable files, left out of every score

    def as_dict(self) -> dict[str, Any]:
        return self.__dict__.copy()


OTHER = "(other)"


def evaluate(
        data: str | None,
        checkpoint: str | None = None,
        model_name: str | None = None,
        img_size: int | Sequence[int] | None = None,
        batch_size: int = 256,
        out: str | None = None,
        json_path: str | None = None,
        val_split: float | None = None,
        seed: int | None = None,
) -> Evaluation:
    """Evaluate on the test split of ``data`` (its validation split when it has none); write the report files.

    ``data``, ``val_split`` and ``seed`` default to the run's own; classes are matched by name (see
    ``held_out_set``). Writes ``evaluation.json``, ``confusion.png`` and ``predictions.csv`` (one row per image
    scored; unreadable files are left out with a warning and listed in ``bad_images``).
    """
    if batch_size < 1:
        raise ValueError(f"--batch-size must be at least 1, got {batch_size}")
    out_dir = Path(out) if out else (Path(checkpoint) / "eval" if checkpoint and Path(checkpoint).is_dir()
                                     else Path("eval"))
    if out_dir.exists() and not out_dir.is_dir():
        raise NotADirectoryError(f"--out {out_dir}: a file, not a folder")
    if json_path and Path(json_path).is_dir():
        raise ValueError(f"--json {json_path}: a folder, not a file")
    held_out = held_out_set(data, checkpoint, model_name, img_size, val_split, seed)
    model, classes = held_out.model, held_out.classes
    # rows: the data's classes; columns: the same, and "(other)" for the model's classes the data does not have
    to_row = torch.full((held_out.num_outputs,), len(classes), dtype=torch.long)
    to_row[held_out.model_index] = torch.arange(len(classes))
    columns = len(classes) + int(held_out.num_outputs > len(classes))
    confusion = torch.zeros(len(classes), columns, dtype=torch.long)
    scored: list[str] = []
    truth: list[int] = []
    predicted: list[int] = []
    top5_hits = 0
    batches = held_out.batches(batch_size)
    with torch.inference_mode():
        for images, labels, paths in track(batches, total=math.ceil(len(held_out.dataset) / batch_size),
                                           description=f"evaluating on {held_out.split}", transient=True):
            scored += paths
            top5 = model(images).topk(min(5, held_out.num_outputs), dim=1).indices
            top5_hits += (top5 == labels[:, None]).any(dim=1).sum().item()
            rows, cols = to_row[labels], to_row[top5[:, 0]]
            confusion += torch.bincount(rows * columns + cols, minlength=len(classes) * columns).reshape(
                len(classes), columns)
            truth += rows.tolist()
            predicted += cols.tolist()
    counts = confusion.sum(dim=1)
    total = counts.sum().item()
    if not total:
        raise ValueError(f"none of the {len(held_out.dataset)} {held_out.split} images could be read "
                         f"({', '.join(held_out.bad_images[:3])}, ...); check the data")
    names = classes + [OTHER] * (columns - len(classes))
    result = Evaluation(
        model=getattr(model, "pretrained_cfg", {}).get("architecture", model_name or ""), split=held_out.split,
        images=int(total), top1=round(100 * confusion.diag().sum().item() / total, 3),
        top5=round(100 * top5_hits / total, 3), classes=classes,
        per_class_top1=[round(100 * c / max(n, 1), 3) for c, n in zip(confusion.diag().tolist(), counts.tolist(),
                                                                         strict=True)],
        per_class_count=counts.tolist(), confusion=confusion.tolist(), predicted_classes=names,
        bad_images=held_out.bad_images,
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    plot_confusion(result, out_dir / "confusion.png")
    (out_dir / "evaluation.json").write_text(json.dumps(result.as_dict(), indent=2))
    with open(out_dir / "predictions.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["image", "label", "predicted"])
        writer.writerows((image, names[row], names[col]) for image, row, col in
                         zip(scored, truth, predicted, strict=True))
    if json_path:
        Path(json_path).write_text(json.dumps(result.as_dict(), indent=2))
    return result


def plot_confusion(result: Evaluation, out_png: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    size = max(4.0, 0.45 * len(result.classes) + 2)
    figure, axis = plt.subplots(figsize=(size, size))
    matrix = torch.tensor(result.confusion, dtype=torch.float)
    image = axis.imshow(matrix / matrix.sum(dim=1, keepdim=True).clamp(min=1), cmap="Blues", vmin=0, vmax=1)
    axis.set(xticks=range(len(result.predicted_classes)), yticks=range(len(result.classes)), xlabel="predicted",
             ylabel="true", title=f"{result.model}: top-1 {result.top1:.2f}% on {result.split}")
    axis.set_xticklabels(result.predicted_classes, rotation=90)
    axis.set_yticklabels(result.classes)
    if len(result.classes) <= 20:
        for i, row in enumerate(result.confusion):
            for j, count in enumerate(row):
                if count:
                    axis.text(j, i, str(count), ha="center", va="center", fontsize=7)
    figure.colorbar(image, ax=axis, fraction=0.046)
    figure.tight_layout()
    figure.savefig(out_png, dpi=100)
    plt.close(figure)


def print_evaluation(result: Evaluation) -> None:
    console = Console()
    bad = len(result.bad_images)
    left_out = f"; {bad} unreadable file{'s' * (bad > 1)} left out, named in bad_images" if bad else ""
    console.print(f"{result.model} on {result.split} ({result.images} images{left_out}): top-1 {result.top1:.2f}%, "
                  f"top-5 {result.top5:.2f}%")
    table = Table()
    for column in ("class", "images", "top-1 %"):
        table.add_column(column, justify="left" if column == "class" else "right")
    for name, count, top1 in zip(result.classes, result.per_class_count, result.per_class_top1, strict=True):
        table.add_row(name, str(count), f"{top1:.2f}")
    console.print(table)
