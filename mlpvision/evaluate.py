"""evaluate(): a trained checkpoint (or any timm/mlpvision model) on a dataset → top-1/top-5, per class, confusion.

A checkpoint is a run folder (its ``checkpoints/best.safetensors``) or a ``.safetensors`` file written by
``mlpvision train``, whose metadata names the architecture, its keyword arguments, input size and classes.
"""

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from rich.console import Console
from rich.progress import track
from rich.table import Table
from torch.utils.data import DataLoader

from .trained import held_out_set


@dataclass
class Evaluation:
    model: str
    split: str
    images: int
    top1: float
    top5: float
    classes: list[str]
    per_class_top1: list[float]
    per_class_count: list[int]
    confusion: list[list[int]]

    def as_dict(self) -> dict[str, Any]:
        return self.__dict__.copy()


def evaluate(
        data: str,
        checkpoint: str | None = None,
        model_name: str | None = None,
        img_size: int | None = None,
        batch_size: int = 256,
        out: str | None = None,
        json_path: str | None = None,
) -> Evaluation:
    """Evaluate on the test split of ``data`` (its validation split when it has none); write the report files."""
    held_out = held_out_set(data, checkpoint, model_name, img_size)
    model, split, classes = held_out.model, held_out.split, held_out.classes
    loader = DataLoader(held_out.dataset, batch_size=batch_size)
    num_classes = len(classes)
    confusion = torch.zeros(num_classes, num_classes, dtype=torch.long)
    top5_hits = 0
    with torch.inference_mode():
        for images, labels in track(loader, description=f"evaluating on {split}", transient=True):
            logits = model(images)[:, :num_classes]
            top5 = logits.topk(min(5, num_classes), dim=1).indices
            top5_hits += (top5 == labels[:, None]).any(dim=1).sum().item()
            confusion += torch.bincount(labels * num_classes + top5[:, 0], minlength=num_classes**2).reshape(
                num_classes, num_classes)
    counts = confusion.sum(dim=1)
    result = Evaluation(
        model=getattr(model, "pretrained_cfg", {}).get("architecture", model_name or ""), split=split,
        images=int(counts.sum()), top1=round(100 * confusion.diag().sum().item() / counts.sum().item(), 3),
        top5=round(100 * top5_hits / counts.sum().item(), 3), classes=classes,
        per_class_top1=[round(100 * c / max(n, 1), 3) for c, n in zip(confusion.diag().tolist(), counts.tolist(),
                                                                         strict=True)],
        per_class_count=counts.tolist(), confusion=confusion.tolist(),
    )
    out_dir = Path(out) if out else (Path(checkpoint) / "eval" if checkpoint and Path(checkpoint).is_dir()
                                     else Path("eval"))
    out_dir.mkdir(parents=True, exist_ok=True)
    plot_confusion(result, out_dir / "confusion.png")
    (out_dir / "evaluation.json").write_text(json.dumps(result.as_dict(), indent=2))
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
    ticks = range(len(result.classes))
    axis.set(xticks=ticks, yticks=ticks, xlabel="predicted", ylabel="true",
             title=f"{result.model}: top-1 {result.top1:.2f}% on {result.split}")
    axis.set_xticklabels(result.classes, rotation=90)
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
    console.print(f"{result.model} on {result.split} ({result.images} images): top-1 {result.top1:.2f}%, "
                  f"top-5 {result.top5:.2f}%")
    table = Table()
    for column in ("class", "images", "top-1 %"):
        table.add_column(column, justify="left" if column == "class" else "right")
    for name, count, top1 in zip(result.classes, result.per_class_count, result.per_class_top1, strict=True):
        table.add_row(name, str(count), f"{top1:.2f}")
    console.print(table)
