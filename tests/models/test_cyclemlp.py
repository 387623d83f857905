"""CycleMLP: any input size its strides allow, both Cycle FC forms in the model, the authors' checkpoint layout."""

import pytest
import timm
import torch

from ..conftest import noise_logits, randomize_, tiny_model
from .test_permutator import to_authors_layout

# the shared contract suites' configuration (conftest.tiny_kwargs)
TINY_KWARGS = dict(depths=(1, 1, 1, 1), embed_dims=(16, 16, 32, 32), img_size=64)


def test_cyclemlp_takes_any_multiple_of_its_stride():
    model = tiny_model("mlpv_cyclemlp_b1").eval()
    assert model.size_agnostic
    assert model.input_stride == 32
    assert model(torch.randn(1, 3, 64, 96)).shape == (1, 10)
    maps = model.forward_intermediates(torch.randn(1, 3, 96, 64), intermediates_only=True)
    assert [m.shape[-2:] for m in maps] == [(24, 16), (12, 8), (6, 4), (3, 2)]
    with pytest.raises(ValueError, match="positive multiples of 32"):
        model(torch.randn(1, 3, 80, 96))


def test_impl_deform_is_the_same_model():
    shift = randomize_(tiny_model("mlpv_cyclemlp_b1")).eval()
    deform = tiny_model("mlpv_cyclemlp_b1", impl="deform").eval()
    deform.load_state_dict(shift.state_dict())
    torch.testing.assert_close(noise_logits(deform), noise_logits(shift), rtol=1e-4, atol=1e-5)


def test_the_earlier_keyword_still_builds_with_a_warning():
    with pytest.warns(FutureWarning, match="cycle_fc= is now impl="):
        model = tiny_model("mlpv_cyclemlp_b1", cycle_fc="deform")
    assert model.stages[0].blocks[0].token_mixer.impl == "deform"


def test_authors_checkpoint_layout_loads(tmp_path):
    source = randomize_(tiny_model("mlpv_cyclemlp_b1")).eval()
    state = to_authors_layout(source)
    state["network.0.0.attn.sfc_h.offset"] = torch.zeros(1)  # the code's fixed offsets, a buffer in its files
    torch.save({"model": state}, tmp_path / "CycleMLP_B1.pth")
    loaded = timm.create_model("mlpv_cyclemlp_b1", pretrained=True, num_classes=10, **TINY_KWARGS,
                               pretrained_cfg_overlay=dict(file=str(tmp_path / "CycleMLP_B1.pth"))).eval()
    assert torch.equal(noise_logits(loaded), noise_logits(source))
