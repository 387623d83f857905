"""Rethinking Token-Mixing MLP for MLP-based Vision Backbone (Yu et al., BMVC 2021), https://arxiv.org/abs/2106.14882.

No code was released (the paper promises PaddlePaddle code). The circulant channel-specific (CCS) token mixer
(``layers/circulant.py``, Eq. 4–8, Alg. 1) replaces the whole token-mixing sub-block of Mixer-B/16 and ResMLP-36
and everything else stays (Table 3: "we only replace the vanilla token-mixing MLP"): the norms, ResMLP's Affine and
LayerScale, the channel MLPs. One bias-free layer of G·N weights per block gives 58,085,992 and 43,356,904
parameters with G = 8, the paper's 57M (w/o head) and 43M. ``groups`` and ``impl`` ("auto", "fft", "dense") are
keyword arguments of every variant (``ccs_impl``, the name ``impl`` had before, is still read).
"""

import warnings
from functools import partial

from timm.models import generate_default_cfgs, register_model

from ..layers import CirculantChannelSpecific
from ..layers.circulant import CirculantImpl
from ._builder import IMAGENET_MEAN_STD, INCEPTION_MEAN_STD, build_model, model_cfg
from .mixer import MlpMixer
from .resmlp import ResMlp


def _circulant(groups: int, impl: CirculantImpl) -> partial:
    return partial(CirculantChannelSpecific, groups=groups, impl=impl)


class MixerCcs(MlpMixer):
    """MLP-Mixer with the CCS token mixer in place of each token MLP (``groups`` G, ``impl`` its computation)."""

    checkpoint_filter = None

    def __init__(self, groups: int = 8, impl: CirculantImpl = "auto", **kwargs) -> None:
        super().__init__(token_mixer=_circulant(groups, impl), **kwargs)


class ResMlpCcs(ResMlp):
    """ResMLP with the CCS token mixer in place of each token linear (``groups`` G, ``impl`` its computation)."""

    checkpoint_filter = None

    def __init__(self, groups: int = 8, impl: CirculantImpl = "auto", **kwargs) -> None:
        super().__init__(token_mixer=_circulant(groups, impl), **kwargs)


def _create_ccs(model_cls: type, variant: str, pretrained: bool, variant_args: dict, **kwargs):
    """Build ``variant`` from its hyper-parameters; keyword arguments override them."""
    if "ccs_impl" in kwargs:  # what checkpoints saved with the earlier name record among their model kwargs
        warnings.warn("ccs_impl= is now impl=", FutureWarning, stacklevel=3)
        kwargs["impl"] = kwargs.pop("ccs_impl")
    return build_model(model_cls, variant, pretrained, **{**variant_args, **kwargs})


def _cfg(paper_name: str, base: str, **kwargs) -> dict:
    return model_cfg(
        paper_name=paper_name, arxiv="2106.14882", code_url="https://arxiv.org/abs/2106.14882",
        license="apache-2.0", count_source=f"derived from the CCS paper Alg. 1 on {base}", feature_stride=16,
        **kwargs,
    )


default_cfgs = generate_default_cfgs({
    "mlpv_mixer_b16_ccs.untrained": _cfg("Mixer-B/16 + CCS (G=8)", "Mixer-B/16", mean_std=INCEPTION_MEAN_STD),
    "mlpv_resmlp_36_ccs.untrained": _cfg("ResMLP-36 + CCS (G=8)", "ResMLP-S36", mean_std=IMAGENET_MEAN_STD),
})


@register_model
def mlpv_mixer_b16_ccs(pretrained: bool = False, **kwargs) -> MixerCcs:
    """Mixer-B/16 + CCS (paper Table 3): N 196, 12 blocks, C 768, r 4, patch 16, G 8."""
    args = dict(patch_size=16, depth=12, embed_dim=768, groups=8)
    return _create_ccs(MixerCcs, "mlpv_mixer_b16_ccs", pretrained, args, **kwargs)


@register_model
def mlpv_resmlp_36_ccs(pretrained: bool = False, **kwargs) -> ResMlpCcs:
    """ResMLP-36 + CCS (paper Table 3): N 196, 36 blocks, C 384, r 4, patch 16, G 8, LayerScale 1e-6."""
    args = dict(patch_size=16, depth=36, embed_dim=384, groups=8, init_values=1e-6)
    return _create_ccs(ResMlpCcs, "mlpv_resmlp_36_ccs", pretrained, args, **kwargs)
