"""The two shared blocks: the residual formulas, and a layout taken from the token mixer."""

from functools import partial

import pytest
import torch
from timm.layers import GatedMlp, Mlp
from torch import nn

from mlpvision.layers import GatedBlock, MetaFormerBlock, RepMlp, SpatialGatingUnit, TokenMlp


def test_metaformer_block_is_the_two_residual_branches():
    torch.manual_seed(0)
    block = MetaFormerBlock(8, TokenMlp(8, (2, 3), 4), Mlp(8, 16), nn.LayerNorm, layer_scale_init=0.5).eval()
    x = torch.randn(2, 2, 3, 8)
    y = x + 0.5 * block.token_mixer(block.norm1(x))
    expected = y + 0.5 * block.mlp(block.norm2(y))
    torch.testing.assert_close(block(x), expected)
    assert block.layout == "NHWC"
    assert block.ls1.shape == (8,)


class _ConvMlp(nn.Sequential):
    def __init__(self, dim: int) -> None:
        super().__init__(nn.Conv2d(dim, 2 * dim, 1), nn.GELU(), nn.Conv2d(2 * dim, dim, 1))


def test_an_nchw_mixer_makes_an_nchw_block_whose_layer_scale_multiplies_channels():
    """RepMLPNet's mixer is NCHW: the layer scale must scale channels (axis 1), not the width (the last axis)."""
    torch.manual_seed(0)
    block = MetaFormerBlock(8, RepMlp(8, (3, 5), share_sets=2), _ConvMlp(8), nn.BatchNorm2d,
                            layer_scale_init=1.0).eval()
    assert block.layout == "NCHW"
    assert block.ls1.shape == block.ls2.shape == (8, 1, 1)
    scale = torch.arange(1.0, 9.0)
    with torch.no_grad():
        block.ls1.copy_(scale.reshape(8, 1, 1))
        block.ls2.zero_()
    x = torch.randn(2, 8, 3, 5)
    expected = x + scale.reshape(1, 8, 1, 1) * block.token_mixer(block.norm1(x))
    torch.testing.assert_close(block(x), expected)


def test_a_module_without_the_contract_is_refused_with_the_reason():
    with pytest.raises(TypeError, match="not a TokenMixer: the block takes its tensor layout from the mixer"):
        MetaFormerBlock(8, nn.Linear(8, 8), Mlp(8, 16), nn.LayerNorm)


def test_gated_block_is_one_residual_branch():
    torch.manual_seed(0)
    block = GatedBlock(8, GatedMlp(8, 16, gate_layer=partial(SpatialGatingUnit, grid_size=(2, 2))), nn.LayerNorm)
    x = torch.randn(2, 2, 2, 8)
    torch.testing.assert_close(block(x), x + block.mlp(block.norm(x)))
    assert block.layout == "NHWC"
