"""Shared helpers: the reference table and tiny configurations of every registered name."""

import csv
from pathlib import Path

import pytest
import timm
import torch

import mlpvision
from mlpvision.models import FAMILIES

VARIANTS_CSV = Path(__file__).parent / "models" / "variants.csv"
ISOTROPIC_FAMILIES = ("mixer", "resmlp", "gmlp", "ffonly", "ccs", "s2mlp")
HIERARCHICAL_FAMILIES = tuple(family for family in FAMILIES if family not in ISOTROPIC_FAMILIES)

# one block per stage, narrow stages and a small image: each multi-stage family's structure at a test-sized cost
TINY_HIERARCHICAL = {
    "vip": dict(depths=(1, 1, 1, 1), embed_dims=(16, 32, 32, 32), segment_dims=(4, 4, 4, 4), img_size=56),
    "dynamixer": dict(depths=(1, 1, 1, 1), embed_dims=(16, 32, 32, 32), num_heads=(4, 4, 4, 4),
                      reduced_dims=(2, 2, 2, 2), img_size=56),
    "cyclemlp": dict(depths=(1, 1, 1, 1), embed_dims=(16, 16, 32, 32), img_size=64),
    "smlpnet": dict(depths=(1, 1, 1, 1), embed_dims=(16, 32, 64, 128), img_size=64, drop_path_rate=0.0),
    "repmlpnet": dict(depths=(1, 1, 1, 1), embed_dims=(16, 32, 64, 256), img_size=64),
}


def reference_rows(families: tuple[str, ...] = FAMILIES) -> list[dict[str, str]]:
    """Rows of variants.csv (reference counts and their sources) for the given families (default: all)."""
    with open(VARIANTS_CSV, newline="") as handle:
        return [row for row in csv.DictReader(handle) if row["family"] in families]


def family_of(name: str) -> str:
    return next(row["family"] for row in reference_rows() if row["name"] == name)


def tiny_kwargs(name: str) -> dict:
    """Test-sized kwargs of ``name``: isotropic ones get two blocks, 32 channels and a 4x4 token grid."""
    if family_of(name) in HIERARCHICAL_FAMILIES:
        return dict(TINY_HIERARCHICAL[family_of(name)], num_classes=10)
    with torch.device("meta"):
        patch = mlpvision.create_model(name, depth=1).patch_size
    return dict(depth=2, embed_dim=32, img_size=4 * patch, num_classes=10)


def tiny_model(name: str, **kwargs) -> torch.nn.Module:
    """``name`` built tiny (see ``tiny_kwargs``) with a fixed seed; extra keywords override."""
    torch.manual_seed(0)
    return mlpvision.create_model(name, **{**tiny_kwargs(name), **kwargs})


def load_file(name: str, path, **kwargs) -> torch.nn.Module:
    """``name`` with weights from a local file, through timm's ``pretrained_cfg_overlay`` (as a user loads them)."""
    return timm.create_model(name, pretrained=True, pretrained_cfg_overlay=dict(file=str(path)), **kwargs).eval()


def noise_logits(model: torch.nn.Module, size: int | tuple[int, int] = 64, batch: int = 2) -> torch.Tensor:
    """The eval-mode logits of a fixed noise batch (seed 3) of ``size`` (a side or (H, W))."""
    height, width = (size, size) if isinstance(size, int) else size
    x = torch.randn(batch, 3, height, width, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        return model.eval()(x)


def randomize_(model: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Give every parameter (the zero-initialised head included) random non-zero values, in place."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for param in model.parameters():
            param.copy_(torch.randn(param.shape, generator=generator) * 0.05 + 0.02)
    return model


def randomize_statistics_(model: torch.nn.Module) -> torch.nn.Module:
    """Random non-zero parameters and BatchNorm statistics, so that no layer is an identity in eval mode."""
    randomize_(model)
    generator = torch.Generator().manual_seed(2)
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.copy_(torch.randn(module.running_mean.shape, generator=generator) * 0.1)
            module.running_var.copy_(torch.rand(module.running_var.shape, generator=generator) + 0.5)
    return model


@pytest.fixture(autouse=True)
def _deterministic_threads():
    torch.set_num_threads(2)
