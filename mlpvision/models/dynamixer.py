"""DynaMixer: A Vision MLP Architecture with Dynamic Mixing (Wang et al., ICML 2022), https://arxiv.org/abs/2201.12083.

Official code: ziyuwwang/DynaMixer @ 038b73b2f70308fdb5584d079c84b5df159490e0 (``models/dynamixer.py``,
``models/vision_model.py``, ``models/configs/conf_dynamixer.py``); this file's key mapping follows that commit.
The network is ViP's (``_permutator.py``) with the DynaMixer token mixer (``layers/dyna_mixer.py``). Where paper
and code differ, the code is followed:

* The block fuses the row, column and channel branches with ViP's split attention (the "weighted DynaMixer
  block", which the paper says is the default), not the plain sum of Eq. 9.
* DynaMixer-L has 8 blocks at the 32×32 grid and 28 at 16×16 (the paper's Table 1 says 9/27: ≈96.0M parameters
  instead of the 97M reported; the code's split gives 97.8M).
* Drop path grows linearly over all blocks; the model default is 0 (trained with 0.1 / 0.1 / 0.3 for S / M / L).
  LayerNorm eps 1e-5; truncated normal (0.02) linears with zero biases, ``generate`` included.

Checkpoints: ours; the authors' (``patch_embed``, ``network.{j}.{k}.attn.mix_h.generate`` …, in a timm train.py
checkpoint, whose ``state_dict_ema`` is read: the authors' main.py evaluates the EMA by default). The authors have
released no weights.
"""

from collections.abc import Sequence
from functools import partial

from timm.models import generate_default_cfgs, register_model

from ..layers.dyna_mixer import DynaMixer
from ._builder import IMAGENET_MEAN_STD, build_model, model_cfg
from ._permutator import Permutator
from ._weights import register_weights


class DynaMixerNet(Permutator):
    """DynaMixer: ViP's network with a 7×7/7 stem, 2×2/2 transitions and the DynaMixer token mixer.

    Args:
        num_heads: per stage, the segments of each dynamic mixing.
        reduced_dims: per stage, the reduced token width ``d``.
        **kwargs: ``Permutator``'s ``depths``, ``embed_dims``, ``transitions``, ``mlp_ratios``, ``img_size`` …
    """

    def __init__(self, num_heads: Sequence[int], reduced_dims: Sequence[int], **kwargs) -> None:
        super().__init__(
            stage_mixers=[partial(DynaMixer, num_heads=heads, reduced_dim=reduced)
                          for heads, reduced in zip(num_heads, reduced_dims, strict=True)],
            stem=dict(kernel_size=7, stride=7, padding=0), downsample=dict(kernel_size=2, padding=0), **kwargs,
        )


def _create_dynamixer(variant: str, pretrained: bool, variant_args: dict, **kwargs) -> DynaMixerNet:
    """Build ``variant`` from its hyper-parameters; keyword arguments override them."""
    return build_model(DynaMixerNet, variant, pretrained, default_out_indices=(0, 1, 2, 3),
                       **{**variant_args, **kwargs})


def _cfg(paper_name: str, count_source: str, **kwargs) -> dict:
    return model_cfg(
        paper_name=paper_name, arxiv="2201.12083", code_url="https://github.com/ziyuwwang/DynaMixer", license="mit",
        count_source=count_source, mean_std=IMAGENET_MEAN_STD, feature_stride=14, **kwargs,
    )


# No weights are released; a checkpoint of the authors' main.py (timm's train.py) is evaluated as their
# --eval_checkpoint path does: load_checkpoint(model, path, args.model_ema) (main.py:544) with --model-ema on by
# default (main.py:200), i.e. 'state_dict_ema', at the model's default_cfg (main.py:346, 523): bicubic
# (models/vision_model.py:14), crop 0.9 for S and M, 0.875 for L (models/configs/conf_dynamixer.py:6-8).
_EVAL = dict(
    weights_key="state_dict_ema",
    weights_key_source="DynaMixer main.py:544 (load_checkpoint with use_ema=args.model_ema, on by default: "
                       "main.py:200)",
    preprocessing_source="DynaMixer main.py:346,523 with models/vision_model.py:14 and "
                         "models/configs/conf_dynamixer.py:6-8",
    top1_source="no file released",
)

default_cfgs = generate_default_cfgs(register_weights({
    "mlpv_dynamixer_s.untrained": _cfg("DynaMixer-S", "official dynamixer_s", crop_pct=0.9, **_EVAL),
    "mlpv_dynamixer_m.untrained": _cfg("DynaMixer-M", "official dynamixer_m", crop_pct=0.9, **_EVAL),
    "mlpv_dynamixer_l.untrained": _cfg("DynaMixer-L", "official dynamixer_l", crop_pct=0.875, **_EVAL),
}))


@register_model
def mlpv_dynamixer_s(pretrained: bool = False, **kwargs) -> DynaMixerNet:
    """DynaMixer-S (paper Table 1): 4 blocks of 192 at 32×32, 14 of 384 at 16×16; 8/16 segments, d = 2."""
    args = dict(depths=(4, 3, 8, 3), embed_dims=(192, 384, 384, 384), mlp_ratios=(3, 3, 3, 3),
                transitions=(True, False, False, False), num_heads=(8, 16, 16, 16), reduced_dims=(2, 2, 2, 2))
    return _create_dynamixer("mlpv_dynamixer_s", pretrained, args, **kwargs)


@register_model
def mlpv_dynamixer_m(pretrained: bool = False, **kwargs) -> DynaMixerNet:
    """DynaMixer-M: 7 blocks of 256 at 32×32, 17 of 512 at 16×16; 8/16 segments, d = 2."""
    args = dict(depths=(4, 3, 14, 3), embed_dims=(256, 256, 512, 512), mlp_ratios=(3, 3, 3, 3),
                transitions=(False, True, False, False), num_heads=(8, 8, 16, 16), reduced_dims=(2, 2, 2, 2))
    return _create_dynamixer("mlpv_dynamixer_m", pretrained, args, **kwargs)


@register_model
def mlpv_dynamixer_l(pretrained: bool = False, **kwargs) -> DynaMixerNet:
    """DynaMixer-L: 8 blocks of 256 at 32×32, 28 of 512 at 16×16 (the code's split); 8/16 segments, d = 8."""
    args = dict(depths=(8, 8, 16, 4), embed_dims=(256, 512, 512, 512), mlp_ratios=(3, 3, 3, 3),
                transitions=(True, False, False, False), num_heads=(8, 16, 16, 16), reduced_dims=(8, 8, 8, 8))
    return _create_dynamixer("mlpv_dynamixer_l", pretrained, args, **kwargs)
