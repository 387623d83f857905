"""Rethinking Token-Mixing MLP for MLP-based Vision Backbone (Yu et al., BMVC 2021), https://arxiv.org/abs/2106.14882.

No code was released (the paper promises PaddlePaddle code). The circulant channel-specific (CCS) token mixer
(``layers/circulant.py``, Eq. 4–8, Alg. 1) replaces the whole token-mixing sub-block of Mixer-B/16 and ResMLP-36
and everything else stays (Table 3: "we only replace the vanilla token-mixing MLP"): the norms, ResMLP's Affine and
LayerScale, the channel MLPs. One bias-free layer of G·N weights per block gives 58,085,992 and 43,356,904
parameters with G = 8, the paper's 57M (w/o head) and 43M. ``groups`` and ``ccs_impl`` ("auto", "fft", "dense")
are keyword arguments of every variant.
"""

from functools import partial

from timm.models import generate_default_cfgs, register_model

from ..layers import Affine, CirculantChannelSpecific
from ._backbone import MlpBackbone
from ._builder import IMAGENET_MEAN_STD, INCEPTION_MEAN_STD, build_model, model_cfg
from .mixer import MIXER_LAYER_NORM, init_mixer, mixer_block
from .resmlp import init_resmlp, resmlp_block


def _circulant(kwargs: dict) -> partial:
    return partial(CirculantChannelSpecific, groups=kwargs.pop("groups", 8), impl=kwargs.pop("ccs_impl", "auto"))


def _cfg(paper_name: str, base: str, **kwargs) -> dict:
    return model_cfg(
        paper_name=paper_name, arxiv="2106.14882", code_url="https://arxiv.org/abs/2106.14882",
        license="apache-2.0", count_source=f"derived from the CCS paper Alg. 1 on {base}", **kwargs,
    )


default_cfgs = generate_default_cfgs({
    "mlpv_mixer_b16_ccs.untrained": _cfg("Mixer-B/16 + CCS (G=8)", "Mixer-B/16", mean_std=INCEPTION_MEAN_STD),
    "mlpv_resmlp_36_ccs.untrained": _cfg("ResMLP-36 + CCS (G=8)", "ResMLP-S36", mean_std=IMAGENET_MEAN_STD),
})


@register_model
def mlpv_mixer_b16_ccs(pretrained: bool = False, **kwargs) -> MlpBackbone:
    """Mixer-B/16 + CCS (paper Table 3): N 196, 12 blocks, C 768, r 4, patch 16, G 8."""
    block_fn = partial(mixer_block, token_mixer=_circulant(kwargs))
    args = dict(patch_size=16, depth=12, embed_dim=768, block_fn=block_fn, norm_layer=MIXER_LAYER_NORM,
                weight_init=init_mixer)
    return build_model(MlpBackbone, "mlpv_mixer_b16_ccs", pretrained, None, **{**args, **kwargs})


@register_model
def mlpv_resmlp_36_ccs(pretrained: bool = False, **kwargs) -> MlpBackbone:
    """ResMLP-36 + CCS (paper Table 3): N 196, 36 blocks, C 384, r 4, patch 16, G 8, LayerScale 1e-6."""
    block_fn = partial(resmlp_block, init_values=1e-6, token_mixer=_circulant(kwargs))
    args = dict(patch_size=16, depth=36, embed_dim=384, block_fn=block_fn, norm_layer=Affine,
                drop_path_schedule="constant", weight_init=init_resmlp)
    return build_model(MlpBackbone, "mlpv_resmlp_36_ccs", pretrained, None, **{**args, **kwargs})
