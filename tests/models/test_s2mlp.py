"""S²-MLP: a LayerNorm after the patch embedding (§3.2), no final norm, any multiple of the patch."""

import timm
import torch
from torch import nn


def test_stem_norm_and_no_final_norm():
    model = timm.create_model("mlpv_s2mlp_wide", depth=1, embed_dim=16, img_size=64)
    assert type(model).__name__ == "S2Mlp"
    assert isinstance(model.stem.norm, nn.LayerNorm)
    assert isinstance(model.norm, nn.Identity)
    assert model(torch.randn(1, 3, 32, 80)).shape == (1, 1000)
