"""Vision Permutator: the network as the authors' code lays it out, and their checkpoint layout."""

import pytest
import timm
import torch

from ..conftest import noise_logits, randomize_, tiny_model
from .test_permutator import to_authors_layout

# the shared contract suites' configuration (conftest.tiny_kwargs)
TINY_KWARGS = dict(depths=(1, 1, 1, 1), embed_dims=(16, 32, 32, 32), segment_dims=(4, 4, 4, 4), img_size=56)


@pytest.mark.parametrize(("name", "reductions"), [("mlpv_vip_s14", [14] * 4), ("mlpv_vip_s7", [7, 14, 14, 14]),
                                                  ("mlpv_vip_m7", [7, 7, 14, 14]), ("mlpv_vip_l7", [7, 14, 14, 14])])
def test_stages_downsample_where_the_code_does(name, reductions):
    with torch.device("meta"):
        model = timm.create_model(name)
    assert type(model).__name__ == "VisionPermutator"
    assert [info["reduction"] for info in model.feature_info] == reductions


def test_authors_checkpoint_layout_loads(tmp_path):
    source = randomize_(tiny_model("mlpv_vip_s7")).eval()
    torch.save({"state_dict": to_authors_layout(source)}, tmp_path / "vip_s7.pth")
    loaded = timm.create_model("mlpv_vip_s7", pretrained=True, num_classes=10, **TINY_KWARGS,
                               pretrained_cfg_overlay=dict(file=str(tmp_path / "vip_s7.pth"))).eval()
    assert torch.equal(noise_logits(loaded, 56), noise_logits(source, 56))
