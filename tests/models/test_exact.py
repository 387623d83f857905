"""Every registered name against the reference table: exact parameter counts, GMACs within 1%.

CycleMLP's reference MACs are the paper's (fvcore skips ``deform_conv2d``); ours count each Cycle FC as its 1×1
convolution, and the tolerance is 5%.
"""

import pytest
import torch

import mlpvision
from mlpvision.complexity import count_gmacs, count_parameters

from ..conftest import reference_rows

ROWS = reference_rows()


@pytest.mark.parametrize("row", ROWS, ids=[row["name"] for row in ROWS])
def test_parameter_count_is_exact(row):
    with torch.device("meta"):
        model = mlpvision.create_model(row["name"])
    assert count_parameters(model) == int(row["params_total"]), row["count_source"]


@pytest.mark.parametrize("row", [r for r in ROWS if r["gmacs_224"]], ids=[r["name"] for r in ROWS if r["gmacs_224"]])
def test_gmacs_within_one_percent(row):
    with torch.device("meta"):
        model = mlpvision.create_model(row["name"])
    size = int(row["img_size"])
    tolerance = 0.05 if row["family"] == "cyclemlp" else 0.01
    assert count_gmacs(model, (3, size, size)) == pytest.approx(float(row["gmacs_224"]), rel=tolerance)


def test_gmac_counter_counts_layer_norm_like_fvcore():
    """A lone LayerNorm over 1x10x4 elements is 5 MACs per element with affine parameters, 4 without."""
    assert count_gmacs(torch.nn.LayerNorm(4), (10, 4)) * 1e9 == pytest.approx(200)
    assert count_gmacs(torch.nn.LayerNorm(4, elementwise_affine=False), (10, 4)) * 1e9 == pytest.approx(160)
    assert count_gmacs(torch.nn.Linear(4, 3), (10, 4)) * 1e9 == pytest.approx(120)


def test_gmac_counter_counts_group_norm_like_fvcore():
    """A GroupNorm over 4x5x5 elements is 5 MACs per element with affine parameters, 4 without (fvcore)."""
    assert count_gmacs(torch.nn.GroupNorm(1, 4), (4, 5, 5)) * 1e9 == pytest.approx(500)
    assert count_gmacs(torch.nn.GroupNorm(2, 4, affine=False), (4, 5, 5)) * 1e9 == pytest.approx(400)


def test_gmac_counter_counts_batch_norm_like_fvcore():
    """Inference-mode BatchNorm over 4x5x5 elements: 2 MACs per element with affine parameters, 1 without."""
    assert count_gmacs(torch.nn.BatchNorm2d(4), (4, 5, 5)) * 1e9 == pytest.approx(200)
    assert count_gmacs(torch.nn.BatchNorm2d(4, affine=False), (4, 5, 5)) * 1e9 == pytest.approx(100)
