"""ResMLP: LayerScale initialised by depth as the official builders, one constant drop-path rate."""

import pytest
import timm
import torch


@pytest.mark.parametrize(("name", "init"), [("mlpv_resmlp_12", 0.1), ("mlpv_resmlp_24", 1e-5),
                                            ("mlpv_resmlp_36", 1e-6), ("mlpv_resmlp_b24", 1e-6)])
def test_layer_scale_follows_the_official_builders(name, init):
    model = timm.create_model(name, depth=2, embed_dim=16, img_size=64, num_classes=0)
    assert type(model).__name__ == "ResMlp"
    assert torch.all(model.stages[0].blocks[0].ls1 == init)


def test_drop_path_is_one_constant_rate():
    model = timm.create_model("mlpv_resmlp_12", depth=3, embed_dim=16, img_size=64, drop_path_rate=0.3)
    assert [block.drop_path1.drop_prob for block in model.blocks] == [0.3, 0.3, 0.3]
