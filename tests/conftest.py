"""Shared helpers: the reference table and tiny configurations of every registered name."""

import csv
from pathlib import Path

import pytest
import torch

import mlpvision

VARIANTS_CSV = Path(__file__).parent / "models" / "variants.csv"
ISOTROPIC_FAMILIES = ("mixer", "resmlp", "gmlp", "ffonly", "ccs", "s2mlp")


def reference_rows(families: tuple[str, ...] = ISOTROPIC_FAMILIES) -> list[dict[str, str]]:
    """Rows of variants.csv (copied from the spec) for the given families."""
    with open(VARIANTS_CSV, newline="") as handle:
        return [row for row in csv.DictReader(handle) if row["family"] in families]


def tiny_kwargs(name: str) -> dict:
    """Two blocks, 32 channels and a 4x4 token grid: the variant's structure at a test-sized cost."""
    with torch.device("meta"):
        patch = mlpvision.create_model(name, depth=1).patch_size
    return dict(depth=2, embed_dim=32, img_size=4 * patch, num_classes=10)


def tiny_model(name: str, **kwargs) -> torch.nn.Module:
    """``name`` built tiny (see ``tiny_kwargs``) with a fixed seed; extra keywords override."""
    torch.manual_seed(0)
    return mlpvision.create_model(name, **{**tiny_kwargs(name), **kwargs})


def randomize_(model: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Give every parameter (the zero-initialised head included) random non-zero values, in place."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for param in model.parameters():
            param.copy_(torch.randn(param.shape, generator=generator) * 0.05 + 0.02)
    return model


@pytest.fixture(autouse=True)
def _deterministic_threads():
    torch.set_num_threads(2)
