"""What the token mixers learned, and how the model copes with shuffled or shifted inputs.

* ``token_filters`` / ``plot_token_weights``: the token-mixing weights of one block as the grid of spatial filters
  the MLP-Mixer paper shows (Fig. 5): each hidden unit's (or output token's, or circulant group's) weights over the
  input tokens, laid out on the token grid.
* ``robustness``: top-1 on a dataset as it is, under one fixed patch shuffle, one fixed pixel shuffle, and small
  circular shifts — the comparison the Mixer paper draws with CNNs (§3.4, Fig. 4), measured at test time — and
  circular shifts by one whole patch along each axis and by half a patch, which test the CCS paper's claim that a
  circulant token mixer is spatial-agnostic.
"""

import dataclasses
import json
import logging
import math
from collections.abc import Callable, Iterable
from pathlib import Path

import torch
from torch import nn

from .layers import TokenMixer
from .trained import held_out_set, load_model

_logger = logging.getLogger(__name__)


def token_filters(model: nn.Module, block: int = 0) -> tuple[torch.Tensor, str]:
    """The token-mixing filters of block ``block``: (filters, H, W) and what each filter is."""
    blocks = model.blocks
    if not 0 <= block < len(blocks):
        raise ValueError(f"--block must be in [0, {len(blocks) - 1}], got {block}")
    if len(model.stages) > 1:
        raise ValueError(
            f"{model.architecture} is a multi-stage model; `analyze weights` draws the token-mixing filters of "
            f"isotropic models (one token grid: Mixer, ResMLP, gMLP, FF-only, CCS)"
        )
    for module in blocks[block].modules():
        filters = module.token_filters() if isinstance(module, TokenMixer) else None
        if filters is not None:
            return filters[0].detach().float(), filters[1]
    raise ValueError(f"{type(blocks[block]).__name__} has no grid-sized token-mixing weights to plot")


def plot_token_weights(model: nn.Module, out_png: Path, block: int = 0, max_filters: int = 64) -> int:
    """Plot up to ``max_filters`` filters of ``block`` as a square-ish grid of panels; returns the panel count."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    filters, what = token_filters(model, block)
    filters = filters[:max_filters]
    columns = math.ceil(math.sqrt(len(filters)))
    rows = math.ceil(len(filters) / columns)
    figure, axes = plt.subplots(rows, columns, figsize=(1.2 * columns, 1.2 * rows + 0.6), squeeze=False)
    for axis in axes.flat:
        axis.axis("off")
    for axis, image in zip(axes.flat, filters, strict=False):
        limit = image.abs().max().clamp(min=1e-12)
        axis.imshow(image.numpy(), cmap="RdBu_r", vmin=-limit, vmax=limit)
    name = getattr(model, "pretrained_cfg", {}).get("architecture", type(model).__name__)
    figure.suptitle(f"{name}, block {block}: {len(filters)} {what}", fontsize=9)
    figure.tight_layout()
    out_png.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(out_png, dpi=100)
    plt.close(figure)
    return len(filters)


def patch_shuffle(images: torch.Tensor, patch: int, permutation: torch.Tensor) -> torch.Tensor:
    """Move the ``patch``×``patch`` tiles of a [B, C, H, W] batch: tile ``permutation[i]`` goes to position ``i``."""
    batch, channels, height, width = images.shape
    rows, cols = height // patch, width // patch
    tiles = images.reshape(batch, channels, rows, patch, cols, patch).permute(0, 2, 4, 1, 3, 5)
    tiles = tiles.reshape(batch, rows * cols, channels, patch, patch)[:, permutation]
    tiles = tiles.reshape(batch, rows, cols, channels, patch, patch).permute(0, 3, 1, 4, 2, 5)
    return tiles.reshape(batch, channels, height, width)


def pixel_shuffle(images: torch.Tensor, permutation: torch.Tensor) -> torch.Tensor:
    """Move every pixel (all channels together) of a [B, C, H, W] batch by one fixed permutation."""
    batch, channels, height, width = images.shape
    return images.reshape(batch, channels, -1)[:, :, permutation].reshape(batch, channels, height, width)


def shift(images: torch.Tensor, down: int, right: int | None = None) -> torch.Tensor:
    """Shift down by ``down`` and right by ``right`` (default: ``down``) pixels, circularly."""
    return torch.roll(images, shifts=(down, down if right is None else right), dims=(2, 3))


@dataclasses.dataclass
class Condition:
    name: str
    top1: float
    change: float


def robustness_conditions(height: int, width: int, patch: int, seed: int = 0
                          ) -> dict[str, Callable[[torch.Tensor], torch.Tensor]]:
    """The fixed input corruptions, named; the permutations are drawn once from ``seed``."""
    generator = torch.Generator().manual_seed(seed)
    patches = torch.randperm((height // patch) * (width // patch), generator=generator)
    pixels = torch.randperm(height * width, generator=generator)
    return {
        "original": lambda x: x,
        f"patch shuffle ({patch}x{patch})": lambda x: patch_shuffle(x, patch, patches),
        "pixel shuffle": lambda x: pixel_shuffle(x, pixels),
        "shift 1 px": lambda x: shift(x, 1),
        "shift 2 px": lambda x: shift(x, 2),
        # the CCS paper's translation claim: whole-patch shifts move whole tokens, sub-patch shifts do not
        f"shift 1 patch down ({patch} px)": lambda x: shift(x, patch, 0),
        f"shift 1 patch right ({patch} px)": lambda x: shift(x, 0, patch),
        **({f"shift {patch // 2} px down (half patch)": lambda x: shift(x, patch // 2, 0),
            f"shift {patch // 2} px right (half patch)": lambda x: shift(x, 0, patch // 2)} if patch > 1 else {}),
    }


def robustness(model: nn.Module, batches: Iterable[tuple[torch.Tensor, torch.Tensor]], patch: int
               ) -> list[Condition]:
    """Top-1 (%) of ``model`` on ``batches`` ([B, C, H, W] transformed images, labels) under each condition."""
    conditions: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {}
    correct: dict[str, int] = {}
    total = 0
    model.eval()
    with torch.inference_mode():
        for images, labels in batches:
            if not conditions:
                conditions = robustness_conditions(images.shape[2], images.shape[3], patch)
                correct = dict.fromkeys(conditions, 0)
            total += len(labels)
            for name, corrupt in conditions.items():
                correct[name] += (model(corrupt(images)).argmax(dim=1) == labels).sum().item()
    if not total:
        raise ValueError("no readable images to measure robustness on")
    base = 100 * correct["original"] / total
    return [Condition(name, round(100 * hits / total, 3), round(100 * hits / total - base, 3))
            for name, hits in correct.items()]


def plot_robustness(results: list[Condition], title: str, out_png: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(7, 3.5))
    bars = axis.bar([r.name for r in results], [r.top1 for r in results], color="tab:blue")
    axis.bar_label(bars, fmt="%.1f")
    axis.set(ylabel="top-1 (%)", ylim=(0, 105), title=title)
    axis.tick_params(axis="x", labelrotation=20)
    figure.tight_layout()
    out_png.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(out_png, dpi=100)
    plt.close(figure)


def _check_out(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise NotADirectoryError(f"--out {out}: a file, not a folder")


def weights_report(checkpoint: str | None, model_name: str | None, out: Path, block: int, max_filters: int
                   ) -> tuple[int, Path]:
    """``token_weights.png`` for a trained model; returns the panel count and the file."""
    if max_filters < 1:
        raise ValueError(f"--max-filters must be at least 1, got {max_filters}")
    _check_out(out)
    model = load_model(checkpoint, model_name).model
    png = out / "token_weights.png"
    return plot_token_weights(model, png, block, max_filters), png


def robustness_report(checkpoint: str | None, model_name: str | None, data: str | None, out: Path
                      ) -> tuple[str, int, list[Condition]]:
    """``robustness.json`` and ``robustness.png`` for a trained model on the held-out images of ``data`` (default:
    the run's data), chosen, labelled and transformed as ``evaluate`` does; returns the number of images scored
    (unreadable files are left out, each named in a warning)."""
    _check_out(out)
    held_out = held_out_set(data, checkpoint, model_name)
    model = held_out.model
    results = robustness(model, (batch[:2] for batch in held_out.batches(256)), getattr(model, "patch_size", 16))
    scored = len(held_out.dataset) - len(held_out.bad_images)
    if held_out.bad_images:
        _logger.warning("left out %d unreadable %s image(s) of %d: %s", len(held_out.bad_images), held_out.split,
                        len(held_out.dataset), ", ".join(held_out.bad_images))
    name = getattr(model, "pretrained_cfg", {}).get("architecture", model_name or "")
    plot_robustness(results, f"{name} on {held_out.split} ({scored} images)", out / "robustness.png")
    (out / "robustness.json").write_text(json.dumps([dataclasses.asdict(r) for r in results], indent=2))
    return name, scored, results
