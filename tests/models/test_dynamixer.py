"""DynaMixer: the authors' checkpoint layout; the network is ViP's (``test_permutator.py``)."""

import timm
import torch

from ..conftest import noise_logits, randomize_, tiny_model
from .test_permutator import to_authors_layout

# the shared contract suites' configuration (conftest.tiny_kwargs)
TINY_KWARGS = dict(depths=(1, 1, 1, 1), embed_dims=(16, 32, 32, 32), num_heads=(4, 4, 4, 4),
                   reduced_dims=(2, 2, 2, 2), img_size=56)


def test_authors_checkpoint_layout_loads(tmp_path):
    source = randomize_(tiny_model("mlpv_dynamixer_s")).eval()
    assert any(".token_mixer.mix_h.generate." in key for key in source.state_dict())
    torch.save({"state_dict_ema": to_authors_layout(source)}, tmp_path / "dynamixer_s.pth")
    loaded = timm.create_model("mlpv_dynamixer_s", pretrained=True, num_classes=10, **TINY_KWARGS,
                               pretrained_cfg_overlay=dict(file=str(tmp_path / "dynamixer_s.pth"))).eval()
    assert type(loaded).__name__ == "DynaMixerNet"
    assert torch.equal(noise_logits(loaded, 56), noise_logits(source, 56))
