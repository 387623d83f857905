"""MLP-Mixer: the model class, its token MLP widths, and keywords that would change its structure."""

import pytest
import timm
import torch

from mlpvision.layers import TokenMlp


def test_the_model_names_its_family_and_the_papers_widths():
    with torch.device("meta"):
        model = timm.create_model("mlpv_mixer_b16")
    assert type(model).__name__ == "MlpMixer"
    assert repr(model).startswith("MlpMixer(")
    mixer = model.stages[0].blocks[0].token_mixer
    assert isinstance(mixer, TokenMlp)
    assert mixer.fc1.weight.shape == (384, 196)  # D_S = 0.5·C over N = 196 tokens (Table 1)
    assert model.stages[0].blocks[0].mlp.fc1.weight.shape == (3072, 768)  # D_C = 4·C


@pytest.mark.parametrize("keyword", [dict(norm_layer=torch.nn.Identity), dict(stem_norm_layer=torch.nn.LayerNorm),
                                     dict(layout="NCHW")])
def test_a_structural_keyword_is_refused_with_the_reason(keyword):
    with pytest.raises(ValueError, match=r"mlpv_mixer_s16 takes no .*builds the paper's structure.*patch_size"):
        timm.create_model("mlpv_mixer_s16", **keyword)
