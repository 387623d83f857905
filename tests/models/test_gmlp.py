"""gMLP: the spatial gating unit starts as the paper asks (W near 0, b = 1), so a block starts as a channel MLP."""

import timm
import torch


def test_spatial_gating_starts_near_the_identity_gate():
    torch.manual_seed(0)
    model = timm.create_model("mlpv_gmlp_s16", depth=2, embed_dim=16, img_size=64)
    assert type(model).__name__ == "GMlp"
    gate = model.stages[0].blocks[0].mlp.gate
    assert gate.proj.weight.abs().max() < 1e-4
    assert torch.all(gate.proj.bias == 1)
