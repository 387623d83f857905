"""CCS: Mixer-B/16 and ResMLP-36 with the circulant mixer; ``impl`` chooses its computation, not its function."""

import pytest
import timm
import torch

from mlpvision.layers import CirculantChannelSpecific

from ..conftest import noise_logits, randomize_, tiny_model


@pytest.mark.parametrize(("name", "cls"), [("mlpv_mixer_b16_ccs", "MixerCcs"), ("mlpv_resmlp_36_ccs", "ResMlpCcs")])
def test_every_token_mixer_is_circulant(name, cls):
    model = tiny_model(name, groups=4)
    assert type(model).__name__ == cls
    mixers = [block.token_mixer for block in model.blocks]
    assert all(isinstance(m, CirculantChannelSpecific) and m.groups == 4 for m in mixers)


def test_impl_keeps_the_function():
    auto = randomize_(tiny_model("mlpv_mixer_b16_ccs")).eval()
    dense = tiny_model("mlpv_mixer_b16_ccs", impl="dense").eval()
    dense.load_state_dict(auto.state_dict())
    torch.testing.assert_close(noise_logits(dense), noise_logits(auto), rtol=1e-5, atol=1e-5)


def test_the_earlier_keyword_still_builds_with_a_warning():
    with pytest.warns(FutureWarning, match="ccs_impl= is now impl="):
        model = timm.create_model("mlpv_resmlp_36_ccs", depth=1, embed_dim=16, img_size=64, ccs_impl="fft")
    assert model.blocks[0].token_mixer.impl == "fft"
