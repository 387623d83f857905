"""FF-only: class-token pooling, and the 14×14 positional table interpolated to other grids as the code does."""

import timm
import torch

from ..conftest import tiny_model


def test_the_head_reads_the_class_token():
    model = tiny_model("mlpv_ffonly_tiny").eval()
    assert type(model).__name__ == "FeedForwardOnly"
    x = torch.randn(2, 3, 64, 64)
    tokens = model.forward_features(x)
    assert tokens.shape == (2, 1 + 16, 32)
    assert model.output_fmt == "NLC"
    torch.testing.assert_close(model.forward_head(tokens, pre_logits=True), tokens[:, 0])


def test_a_7x7_grid_interpolates_the_positional_table():
    model = timm.create_model("mlpv_ffonly_large", depth=1, embed_dim=16, num_classes=3).eval()
    assert model.grid_size == (7, 7)
    assert model(torch.randn(1, 3, 224, 224)).shape == (1, 3)
