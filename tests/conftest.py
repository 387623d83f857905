"""Shared helpers: the reference table and tiny configurations of every registered name.

Nothing here lists families or mixers: the families are ``mlpvision.models.FAMILIES`` (the family files), a family is
isotropic when its models have one stage, and a multi-stage family's tiny configuration is ``TINY_KWARGS`` in its
own test file (``tests/models/test_<family>.py``).
"""

import csv
import importlib
from pathlib import Path

import pytest
import timm
import torch

import mlpvision
from mlpvision.models import FAMILIES, family_of

VARIANTS_CSV = Path(__file__).parent / "models" / "variants.csv"


def _is_isotropic(family: str) -> bool:
    with torch.device("meta"):
        return len(timm.create_model(timm.list_models(module=family)[0]).stages) == 1


ISOTROPIC_FAMILIES = tuple(family for family in FAMILIES if _is_isotropic(family))
HIERARCHICAL_FAMILIES = tuple(family for family in FAMILIES if family not in ISOTROPIC_FAMILIES)


def reference_rows(families: tuple[str, ...] = FAMILIES) -> list[dict[str, str]]:
    """Rows of variants.csv (reference counts and their sources) for the given families (default: all)."""
    with open(VARIANTS_CSV, newline="") as handle:
        return [row for row in csv.DictReader(handle) if row["family"] in families]


def tiny_kwargs(name: str) -> dict:
    """Test-sized kwargs of ``name``: isotropic ones get two blocks, 32 channels and a 4x4 token grid; multi-stage
    ones their family test file's ``TINY_KWARGS`` (one block per stage, narrow stages, a small image)."""
    family = family_of(name)
    if family in HIERARCHICAL_FAMILIES:
        return dict(importlib.import_module(f"tests.models.test_{family}").TINY_KWARGS, num_classes=10)
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
